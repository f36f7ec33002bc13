"""GET /api/v1/admins/me/metrics (E6): this process's counters in the seed's groups.

Groups and fields with no meaning in this service are null, never invented: there is no BEAM
(atoms, ETS), no Netmaker (reconciliation), no peer discovery over DNS, and no admin-side proxy
or gateways. README "Metrics" lists each field's source.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entrypoints.bootstrap import Services
from entrypoints.http.inputs import services
from entrypoints.http.responses import ok
from entrypoints.process_stats import human_duration, open_fds, resident_bytes

MB = 1024 * 1024
PROXY_FIELDS = (
    "auth_failures_total", "bytes_down_mb", "bytes_down_total", "bytes_up_mb", "bytes_up_total",
    "connections_auth_failed_total", "connections_failure_total", "connections_success_total",
    "connections_total", "tunnels_closed_deadline_total", "tunnels_closed_drain_timeout_total",
    "tunnels_closed_normal_total", "tunnels_closed_total",
)


def _application(svc: Services, now: datetime) -> dict[str, Any]:
    uptime = int((now - svc.started_at).total_seconds()) if svc.started_at else 0
    rss = resident_bytes()
    beam_only = ("atom_count", "ets_count", "memory_atom_bytes", "memory_atom_mb",
                 "memory_binary_bytes", "memory_binary_mb", "memory_code_bytes",
                 "memory_code_mb", "memory_ets_bytes", "memory_ets_mb",
                 "memory_processes_bytes", "memory_processes_mb")
    return {
        **dict.fromkeys(beam_only),
        "memory_total_bytes": rss,
        "memory_total_mb": round(rss / MB, 2) if rss is not None else None,
        "port_count": open_fds(),
        "process_count": threading.active_count(),
        "uptime_human": human_duration(uptime),
        "uptime_seconds": uptime,
    }


def _queues(svc: Services) -> list[dict[str, Any]]:
    if svc.deliveries is None:
        return []
    counts = svc.deliveries.counts()
    # "pending" holds due, leased and retrying rows alike; the queue does not split them.
    return [{"queue": "webhook_deliveries", "available": counts.get("pending", 0),
             "cancelled": 0, "completed": counts.get("succeeded", 0),
             "discarded": counts.get("failed", 0), "executing": 0, "retryable": 0,
             "scheduled": 0}]


def collect(svc: Services) -> dict[str, Any]:
    """Every group of E6, from this process's counters and the latest topology."""
    now = datetime.now(UTC)
    c = svc.counters.snapshot()
    relay, topology = svc.relay, svc.admins.latest()
    delivered = svc.deliverer.counts if svc.deliverer is not None else {}
    return {
        "application": _application(svc, now),
        "commands": {k: c.get(f"commands.{k}", 0) for k in (
            "delivery_delivered_count", "delivery_total", "execution_completed_total",
            "execution_delivered_total", "expiration_total")},
        "discovery": {"dns_resolutions_total": None, "peer_connections_total": None,
                      "scans_total": c.get("metadata.recomputations_total", 0)},
        "event_broker": {
            "enabled": svc.settings.run_relay, "enqueues_total": relay.read,
            "publishes_error_total": relay.failed_batches, "publishes_ok_total": relay.published,
            "publishes_total": relay.published + relay.failed_batches,
        },
        "gateways": {"active_count": None, "connections_total": None, "scrapes_total": None},
        "membership": {k: c.get(f"membership.{k}", 0) for k in (
            "complete_total", "steps_completed_total", "checkins_total")},
        "metadata": {
            "assigned_clusters": len(topology.shards.clusters_of(topology.me.name)),
            "degraded": topology.shards.degraded,
            "orphaned_clusters": len(topology.shards.orphaned),
            "recomputations_total": c.get("metadata.recomputations_total", 0),
        },
        "nodes": {"health_checks_total": c.get("nodes.health_checks_total", 0)},
        "oban_queues": _queues(svc),
        "proxy": dict.fromkeys(PROXY_FIELDS),
        "quantum": {k: c.get(f"quantum.{k}", 0) for k in (
            "jobs_exceptions_total", "jobs_executed_total")},
        "reconciliation": {"errors": None, "total": None},
        "self_updates": {"completed_total": svc.self_updates.completed},
        "ssh": {k: c.get(f"ssh.{k}", 0) for k in ("verifications_failed", "verifications_total")},
        "timestamp": now,
        "vpn": {k: c.get(f"vpn.{k}", 0) for k in (
            "zombie_cleanup_deleted_count", "zombie_cleanup_total")},
        "webhook": {
            "deliveries_ok_total": delivered.get("succeeded", 0),
            "deliveries_recoverable_total": delivered.get("recoverable", 0),
            "deliveries_terminal_total": delivered.get("failed", 0),
            "deliveries_total": delivered.get("attempts", 0),
            "fan_outs_total": c.get("webhook.fan_outs_total", 0),
        },
    }


async def admin_metrics(request: Request) -> Response:
    return ok(request, await run_in_threadpool(collect, services(request)))


ROUTES = [Route("/api/v1/admins/me/metrics", admin_metrics, methods=["GET"])]
