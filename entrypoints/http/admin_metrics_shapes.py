"""The shape of GET /api/v1/admins/me/metrics (E6): this process's counters in the seed's groups.

Every group and field of the seed is here; a field with no meaning in this service is always null
and says why (README "Metrics"). A separate module because the groups outnumber the route code
(entrypoints/http/admin_metrics.py fills them; Prometheus reads the same figures).
"""

from __future__ import annotations

from typing import Annotated

from entrypoints.http.serializers import Moment, Shape, described

_d = described
NoBeam = Annotated[int | None, _d("Always null: no BEAM here")]
NoBeamMb = Annotated[float | None, _d("Always null: no BEAM here")]
NoProxy = Annotated[int | None, _d("Always null: the admin runs no proxy")]
NoProxyMb = Annotated[float | None, _d("Always null: the admin runs no proxy")]
NoGateway = Annotated[int | None, _d("Always null: the admin has no gateways")]
NoNetmaker = Annotated[int | None, _d("Always null: no Netmaker to reconcile")]


class ApplicationMetrics(Shape):
    """This process: memory, file descriptors, threads and uptime (BEAM figures are null)"""

    atom_count: NoBeam
    ets_count: NoBeam
    memory_atom_bytes: NoBeam
    memory_atom_mb: NoBeamMb
    memory_binary_bytes: NoBeam
    memory_binary_mb: NoBeamMb
    memory_code_bytes: NoBeam
    memory_code_mb: NoBeamMb
    memory_ets_bytes: NoBeam
    memory_ets_mb: NoBeamMb
    memory_processes_bytes: NoBeam
    memory_processes_mb: NoBeamMb
    memory_total_bytes: Annotated[int | None, _d("Resident memory in bytes (null if unknown)")]
    memory_total_mb: Annotated[float | None, _d("Resident memory in MB (null if unknown)")]
    port_count: Annotated[int | None, _d("Open file descriptors (null if unknown)")]
    process_count: Annotated[int, _d("Live threads")]
    uptime_human: Annotated[str, _d("Human-readable uptime (e.g. '2d 5h 30m')")]
    uptime_seconds: Annotated[int, _d("Seconds since this process started")]


class CommandMetrics(Shape):
    """Command execution and delivery"""

    delivery_delivered_count: Annotated[int, _d(
        "Executions handed out by the last work poll that handed out any")]
    delivery_total: Annotated[int, _d("Work polls that handed out executions")]
    execution_completed_total: Annotated[int, _d("Results accepted from agents")]
    execution_delivered_total: Annotated[int, _d("Executions handed out to agents")]
    expiration_total: Annotated[int, _d("Expiry sweeps")]


class DiscoveryMetrics(Shape):
    """Peer admin discovery (through the shared database here)"""

    dns_resolutions_total: Annotated[int | None, _d("Always null: no DNS discovery")]
    peer_connections_total: Annotated[int | None, _d("Always null: no Erlang peers")]
    scans_total: Annotated[int, _d("Topology recomputations")]


class EventBrokerMetrics(Shape):
    """The relay from the event store to the bus (in-process or JetStream)"""

    enabled: Annotated[bool, _d("Whether this process runs the relay (RUN_RELAY)")]
    enqueues_total: Annotated[int, _d("Messages read for publishing")]
    publishes_error_total: Annotated[int, _d("Batches whose publishing failed (retried)")]
    publishes_ok_total: Annotated[int, _d("Messages published")]
    publishes_total: Annotated[int, _d("publishes_ok_total + publishes_error_total")]


class GatewayMetrics(Shape):
    """Gateways: none here"""

    active_count: NoGateway
    connections_total: NoGateway
    scrapes_total: NoGateway


class MembershipMetrics(Shape):
    """Admin-cluster membership"""

    complete_total: Annotated[int, _d("Joins completed")]
    steps_completed_total: Annotated[int, _d("Membership steps completed")]
    checkins_total: Annotated[int, _d("Check-ins written (not in the seed)")]


class MetadataMetrics(Shape):
    """Admin metadata and cluster assignment"""

    assigned_clusters: Annotated[int, _d("Clusters assigned to this admin")]
    degraded: Annotated[bool, _d("Whether the admin cluster is degraded")]
    orphaned_clusters: Annotated[int, _d("Clusters no admin can take")]
    recomputations_total: Annotated[int, _d("Topology recomputations")]


class NodeHealthMetrics(Shape):
    """Node health checks"""

    health_checks_total: Annotated[int, _d("Heartbeats received")]


class QueueMetrics(Shape):
    """A job queue's states: here the webhook delivery queue"""

    queue: Annotated[str, _d("Queue name")]
    available: Annotated[int, _d("Pending deliveries (due, leased and retrying alike)")]
    cancelled: Annotated[int, _d("Always 0")]
    completed: Annotated[int, _d("Deliveries that succeeded")]
    discarded: Annotated[int, _d("Deliveries that failed for good")]
    executing: Annotated[int, _d("Always 0: counted in available")]
    retryable: Annotated[int, _d("Always 0: counted in available")]
    scheduled: Annotated[int, _d("Always 0: counted in available")]


class ProxyMetrics(Shape):
    """Forward proxy: none on the admin"""

    auth_failures_total: NoProxy
    bytes_down_mb: NoProxyMb
    bytes_down_total: NoProxy
    bytes_up_mb: NoProxyMb
    bytes_up_total: NoProxy
    connections_auth_failed_total: NoProxy
    connections_failure_total: NoProxy
    connections_success_total: NoProxy
    connections_total: NoProxy
    tunnels_closed_deadline_total: NoProxy
    tunnels_closed_drain_timeout_total: NoProxy
    tunnels_closed_normal_total: NoProxy
    tunnels_closed_total: NoProxy


class QuantumMetrics(Shape):
    """Background passes (scheduler, sweep, check-in)"""

    jobs_exceptions_total: Annotated[int, _d("Passes that raised")]
    jobs_executed_total: Annotated[int, _d("Passes run")]


class ReconciliationMetrics(Shape):
    """Netmaker reconciliation: none here"""

    errors: NoNetmaker
    total: NoNetmaker


class SelfUpdateMetrics(Shape):
    """Self-update requests"""

    completed_total: Annotated[int, _d("Requests this process completed")]


class SshMetrics(Shape):
    """SSH login checks asked by agents"""

    verifications_failed: Annotated[int, _d("Checks that refused the login")]
    verifications_total: Annotated[int, _d("Checks answered")]


class VpnMetrics(Shape):
    """Zombie admin cleanup"""

    zombie_cleanup_deleted_count: Annotated[int, _d("Admins the last cleanup forgot")]
    zombie_cleanup_total: Annotated[int, _d("Cleanups run")]


class WebhookMetrics(Shape):
    """Webhook fan-out and delivery attempts"""

    deliveries_ok_total: Annotated[int, _d("Attempts answered with 2xx")]
    deliveries_recoverable_total: Annotated[int, _d("Attempts that will be retried")]
    deliveries_terminal_total: Annotated[int, _d("Deliveries that failed for good")]
    deliveries_total: Annotated[int, _d("Delivery attempts")]
    fan_outs_total: Annotated[int, _d("Events fanned out to webhooks")]


class AdminMetricsResponse(Shape):
    """This process's counters since it started, in every group of the seed (README, Metrics)"""

    application: ApplicationMetrics
    commands: CommandMetrics
    discovery: DiscoveryMetrics
    event_broker: EventBrokerMetrics
    gateways: GatewayMetrics
    membership: MembershipMetrics
    metadata: MetadataMetrics
    nodes: NodeHealthMetrics
    oban_queues: Annotated[list[QueueMetrics], _d("Job queue states")]
    proxy: ProxyMetrics
    quantum: QuantumMetrics
    reconciliation: ReconciliationMetrics
    self_updates: SelfUpdateMetrics
    ssh: SshMetrics
    timestamp: Annotated[Moment, _d("When the figures were read")]
    vpn: VpnMetrics
    webhook: WebhookMetrics


SHAPES = (AdminMetricsResponse,)
