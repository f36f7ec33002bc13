"""The Prometheus names of this admin's figures, and the gauges an operator alerts on.

GET /api/v1/admins/me/metrics keeps the seed's JSON names; Prometheus has its own conventions
(https://prometheus.io/docs/practices/naming/): base units, `_total` on counters and on nothing
else, no `_count`/`_sum`/`_bucket` on gauges (they belong to histograms and summaries), and HELP
text that says what a figure means. So each JSON field gets its Prometheus name and sentence
here, written once, and README "Metrics" lists them (tests/e2e/test_prometheus_exposition.py
holds the rules and checks the README names every family).

The operator gauges are read at scrape time with a few small queries and no per-row work: the
store's head once, the relay's tracked position, and one aggregate over the pending deliveries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

PREFIX = "edge_admin_"


@dataclass(frozen=True)
class Family:
    """A JSON field's Prometheus family: a counter when the name ends in `_total`."""

    name: str
    help: str

    def metric(self, value: float) -> Metric:
        if self.name.endswith("_total"):
            return CounterMetricFamily(PREFIX + self.name, self.help, value=value)
        return GaugeMetricFamily(PREFIX + self.name, self.help, value=value)


# Keyed by "<group>.<field>" of the JSON figures. The groups `application` (the process
# collector and `uptime_seconds` cover it) and `oban_queues` (the backlog gauges below) are not
# exported field by field; null fields (no BEAM, proxy, gateways or Netmaker here) never are.
FAMILIES: Mapping[str, Family] = {
    "commands.delivery_delivered_count": Family(
        "commands_delivery_last_batch_executions",
        "Executions handed out by the last agent work poll that handed out any."),
    "commands.delivery_total": Family(
        "commands_delivery_total", "Agent work polls that handed out executions."),
    "commands.execution_completed_total": Family(
        "commands_execution_completed_total", "Command results accepted from agents."),
    "commands.execution_delivered_total": Family(
        "commands_execution_delivered_total", "Command executions handed out to agents."),
    "commands.expiration_total": Family(
        "commands_expiration_total", "Expiry sweeps of command executions run."),
    "discovery.scans_total": Family(
        "discovery_scans_total", "Topology recomputations (the seed's discovery scans)."),
    "event_broker.enabled": Family(
        "event_broker_enabled", "Whether this process runs the relay (RUN_RELAY): 1 or 0."),
    "event_broker.enqueues_total": Family(
        "event_broker_enqueues_total",
        "Messages the relay read for publishing, re-reads after a failure included."),
    "event_broker.publishes_error_total": Family(
        "event_broker_publishes_error_total",
        "Relay batches whose publishing failed (each is retried)."),
    "event_broker.publishes_ok_total": Family(
        "event_broker_publishes_ok_total", "Messages the relay published."),
    "event_broker.publishes_total": Family(
        "event_broker_publishes_total",
        "Publishing outcomes: messages published plus batches that failed."),
    "membership.complete_total": Family(
        "membership_complete_total", "Admin-cluster joins this process completed."),
    "membership.steps_completed_total": Family(
        "membership_steps_completed_total", "Admin-cluster membership steps completed."),
    "membership.checkins_total": Family(
        "membership_checkins_total", "Admin check-ins this process wrote."),
    "metadata.assigned_clusters": Family(
        "metadata_assigned_clusters", "Edge clusters assigned to this admin."),
    "metadata.degraded": Family(
        "metadata_degraded",
        "Whether the admin cluster is degraded (more nodes than capacity): 1 or 0."),
    "metadata.orphaned_clusters": Family(
        "metadata_orphaned_clusters", "Edge clusters no live admin has room for."),
    "metadata.recomputations_total": Family(
        "metadata_recomputations_total", "Topology recomputations."),
    "nodes.health_checks_total": Family(
        "nodes_health_checks_total", "Node heartbeats received."),
    "quantum.jobs_exceptions_total": Family(
        "quantum_jobs_exceptions_total",
        "Background passes (scheduler, sweep, check-in) that raised."),
    "quantum.jobs_executed_total": Family(
        "quantum_jobs_executed_total", "Background passes (scheduler, sweep, check-in) run."),
    "self_updates.completed_total": Family(
        "self_updates_completed_total", "Self-update requests this process completed."),
    "ssh.verifications_failed": Family(
        "ssh_verifications_failed_total", "SSH login checks that refused the login."),
    "ssh.verifications_total": Family(
        "ssh_verifications_total", "SSH login checks answered."),
    "vpn.zombie_cleanup_deleted_count": Family(
        "vpn_zombie_cleanup_last_deleted_admins",
        "Silent admins the last zombie cleanup forgot."),
    "vpn.zombie_cleanup_total": Family(
        "vpn_zombie_cleanup_total", "Zombie admin cleanups run."),
    "webhook.deliveries_ok_total": Family(
        "webhook_deliveries_ok_total", "Webhook delivery attempts answered with a 2xx status."),
    "webhook.deliveries_recoverable_total": Family(
        "webhook_deliveries_recoverable_total",
        "Webhook delivery attempts that failed and will be retried."),
    "webhook.deliveries_terminal_total": Family(
        "webhook_deliveries_terminal_total", "Webhook deliveries that failed for good."),
    "webhook.deliveries_total": Family(
        "webhook_deliveries_total", "Webhook delivery attempts."),
    "webhook.fan_outs_total": Family(
        "webhook_fan_outs_total", "Events fanned out to webhook deliveries."),
}
NOT_EXPORTED = ("application", "oban_queues", "timestamp")


def figures(groups: Mapping[str, Any]) -> Iterator[Metric]:
    """Every numeric field of the JSON figures (`msgspec.to_builtins` of them) under its name."""
    for group, fields in groups.items():
        if group in NOT_EXPORTED or not isinstance(fields, dict):
            continue
        for field, value in fields.items():
            if value is None or isinstance(value, str):
                continue  # no meaning here (documented in the JSON), or not a number
            yield FAMILIES[f"{group}.{field}"].metric(float(value))  # booleans: 0 or 1


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def lags(svc: Any) -> Iterator[Metric]:
    """How far the read model and the relay trail the event store, from one read of its head.
    Both positions are shared records, so every admin reports the same lag, whichever runs the
    projector or the relay."""
    worker = svc.projector
    failure = worker.current_failure()
    head = svc.store.recorder.max_notification_id() or 0
    position = worker.applied()
    yield gauge("projection_stuck", "Whether the read model cannot apply an event (writes are "
                "refused; /readyz names the event): 1 or 0.", 1 if failure is not None else 0)
    yield gauge("projection_position", "Last event position the read model holds.", position)
    yield gauge("projection_lag_events", "Events recorded but not yet in the read model.",
                max(0, head - position))
    yield CounterMetricFamily(PREFIX + "projection_failures_total",
                              "Attempts at applying events that raised, in this process.",
                              value=worker.failed_attempts)
    relayed = svc.relay.published_position()
    yield gauge("relay_position", "Last event position the relay has published.", relayed)
    yield gauge("relay_lag_events", "Events recorded but not yet published to the bus.",
                max(0, head - relayed))


def webhook_backlog(svc: Any) -> Iterator[Metric]:
    """Deliveries still owed and how long the oldest has waited (one aggregate query)."""
    if svc.deliveries is None:
        return
    backlog = svc.deliveries.backlog()
    age = 0.0
    if backlog.oldest_since is not None:
        age = max(0.0, (svc.writes.clock.now() - backlog.oldest_since).total_seconds())
    yield gauge("webhook_deliveries_pending",
                "Webhook deliveries still owed: due, leased or waiting for a retry.",
                backlog.pending)
    yield gauge("webhook_oldest_pending_delivery_age_seconds",
                "Seconds since the oldest webhook delivery still owed was enqueued (0 if none).",
                age)


def unsealing(svc: Any) -> Iterator[Metric]:
    """A key missing from ENCRYPTION_KEY: alert on the gauge (README: key rotation)."""
    failures = svc.unsealing
    yield CounterMetricFamily(PREFIX + "secret_unseal_failures_total",
                              "Sealed values that did not open, every attempt counted.",
                              value=failures.total)
    yield gauge("secrets_unsealable", "Objects whose sealed values do not open, still in use.",
                len(failures.unsealable()))
