"""This admin's metrics, in two renderings of the same counters.

GET /api/v1/admins/me/metrics (E6): this process's counters in the seed's groups. Groups and
fields with no meaning in this service are null, never invented: there is no BEAM (atoms, ETS),
no Netmaker (reconciliation), no peer discovery over DNS, and no admin-side proxy or gateways.
README "Metrics" lists each field's source; entrypoints/http/admin_metrics_shapes.py its shape.

GET /metrics, in the Prometheus text format: request latency by route, this process's counters
(the same ones E6 shows, under the names entrypoints/http/admin_metrics_prometheus.py gives
them), the fleet and topology gauges, the lags and backlog an operator alerts on, and the
process collector.

Each app has its own registry (tests run several apps in one process). Names follow the
Prometheus conventions: an `edge_admin_` prefix, base units, `_total` on counters only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entrypoints.agent.host_stats import human_duration, open_fds, resident_bytes
from entrypoints.bootstrap import Services
from entrypoints.http import admin_metrics_prometheus as prometheus
from entrypoints.http.admin_metrics_shapes import (
    AdminMetricsResponse,
    ApplicationMetrics,
    CommandMetrics,
    DiscoveryMetrics,
    EventBrokerMetrics,
    GatewayMetrics,
    MembershipMetrics,
    MetadataMetrics,
    NodeHealthMetrics,
    ProxyMetrics,
    QuantumMetrics,
    QueueMetrics,
    ReconciliationMetrics,
    SelfUpdateMetrics,
    SshMetrics,
    VpnMetrics,
    WebhookMetrics,
)
from entrypoints.http.inputs import services
from entrypoints.http.openapi.admins import METRICS, NULL_NOTE
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape
from projections.status import is_store_trouble

MB = 1024 * 1024
G = TypeVar("G", bound=Shape)


def _application(svc: Services, now: datetime) -> ApplicationMetrics:
    uptime = int((now - svc.started_at).total_seconds()) if svc.started_at else 0
    rss = resident_bytes()
    return ApplicationMetrics(
        atom_count=None, ets_count=None, memory_atom_bytes=None, memory_atom_mb=None,
        memory_binary_bytes=None, memory_binary_mb=None, memory_code_bytes=None,
        memory_code_mb=None, memory_ets_bytes=None, memory_ets_mb=None,
        memory_processes_bytes=None, memory_processes_mb=None,
        memory_total_bytes=rss,
        memory_total_mb=round(rss / MB, 2) if rss is not None else None,
        port_count=open_fds(),
        process_count=threading.active_count(),
        uptime_human=human_duration(uptime),
        uptime_seconds=uptime,
    )


def _queues(svc: Services) -> list[QueueMetrics]:
    if svc.deliveries is None:
        return []
    counts = svc.deliveries.counts()
    # "pending" holds due, leased and retrying rows alike; the queue does not split them.
    return [QueueMetrics(queue="webhook_deliveries", available=counts.get("pending", 0),
                         cancelled=0, completed=counts.get("succeeded", 0),
                         discarded=counts.get("failed", 0), executing=0, retryable=0,
                         scheduled=0)]


def _counted(group: type[G], prefix: str, counters: dict[str, int]) -> G:
    """A group whose every field is the process counter `<prefix>.<field>` (0 until counted)."""
    return group(**{f: counters.get(f"{prefix}.{f}", 0) for f in group.__struct_fields__})


def collect(svc: Services, *, queues: bool = True) -> AdminMetricsResponse:
    """Every group of E6, from this process's counters and the latest topology. Prometheus
    skips `oban_queues` (queues=False): its per-status count reads every delivery row."""
    now = datetime.now(UTC)
    c = svc.counters.snapshot()
    relay, topology = svc.relay, svc.admins.latest()
    delivered = svc.deliverer.counts if svc.deliverer is not None else {}
    return AdminMetricsResponse(
        application=_application(svc, now),
        commands=_counted(CommandMetrics, "commands", c),
        discovery=DiscoveryMetrics(dns_resolutions_total=None, peer_connections_total=None,
                                   scans_total=c.get("metadata.recomputations_total", 0)),
        event_broker=EventBrokerMetrics(
            enabled=svc.settings.run_relay, enqueues_total=relay.read,
            publishes_error_total=relay.failed_batches, publishes_ok_total=relay.published,
            publishes_total=relay.published + relay.failed_batches,
        ),
        gateways=GatewayMetrics(active_count=None, connections_total=None, scrapes_total=None),
        membership=_counted(MembershipMetrics, "membership", c),
        metadata=MetadataMetrics(
            assigned_clusters=len(topology.shards.clusters_of(topology.me.name)),
            degraded=topology.shards.degraded,
            orphaned_clusters=len(topology.shards.orphaned),
            recomputations_total=c.get("metadata.recomputations_total", 0),
        ),
        nodes=NodeHealthMetrics(health_checks_total=c.get("nodes.health_checks_total", 0)),
        oban_queues=_queues(svc) if queues else [],
        proxy=ProxyMetrics(**dict.fromkeys(ProxyMetrics.__struct_fields__)),
        quantum=_counted(QuantumMetrics, "quantum", c),
        reconciliation=ReconciliationMetrics(errors=None, total=None),
        self_updates=SelfUpdateMetrics(completed_total=svc.self_updates.completed),
        ssh=_counted(SshMetrics, "ssh", c),
        timestamp=now,
        vpn=_counted(VpnMetrics, "vpn", c),
        webhook=WebhookMetrics(
            deliveries_ok_total=delivered.get("succeeded", 0),
            deliveries_recoverable_total=delivered.get("recoverable", 0),
            deliveries_terminal_total=delivered.get("failed", 0),
            deliveries_total=delivered.get("attempts", 0),
            fan_outs_total=c.get("webhook.fan_outs_total", 0),
        ),
    )


async def admin_metrics(request: Request) -> Response:
    return ok(request, await run_in_threadpool(collect, services(request)))


# In the 0.0.4 text format a counter's or histogram's creation time is one more gauge per label
# set, named `<family>_created` with the family's HELP: a gauge in a reserved suffix that says
# the wrong thing and doubles the series. Prometheus reads creation times only from OpenMetrics
# and protobuf, which /metrics does not serve. (A process-wide switch of the library.)
disable_created_metrics()  # type: ignore[no-untyped-call]

# Latency buckets from 1 ms to 10 s: the API's answers are mostly single-digit milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Per-app registry and the request instruments the middleware feeds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            "edge_admin_http_request_duration_seconds",
            "Seconds taken to answer HTTP requests, by method and route template.",
            ("method", "route"), buckets=BUCKETS, registry=self.registry)
        self.requests = Counter(
            "edge_admin_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"), registry=self.registry)
        ProcessCollector(registry=self.registry, namespace="edge_admin")
        self.services: Any = None
        # (method, route template, status) -> its histogram and counter: a few hundred at most
        # (routes are templates, unmatched paths one label), so never pruned.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry.register(_ServiceCollector(self))

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() checks and converts its values on every call
            children = self._children[key] = (self.duration.labels(method, route),
                                              self.requests.labels(method, route, str(status)))
        children[0].observe(time.perf_counter() - started)
        children[1].inc()


class _ServiceCollector(Collector):
    """Reads the services' counters at scrape time (nothing is copied between scrapes)."""

    def __init__(self, owner: HttpMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        svc = self.owner.services
        if svc is None:
            return
        groups = msgspec.to_builtins(collect(svc, queues=False))
        yield from prometheus.figures(groups)
        topology = svc.admins.latest()
        gauge = prometheus.gauge
        yield gauge("admins_live", "Live admins in this admin cluster.", len(topology.live))
        yield gauge("edge_capacity", "Total edge-node capacity of the live admins.",
                    sum(topology.edge_capacity.values()))
        yield gauge("uptime_seconds", "Seconds since this admin started.",
                    groups["application"]["uptime_seconds"])
        yield from prometheus.unsealing(svc)
        # What is read from the database at scrape time. With the database away the scrape
        # still answers, with what this process knows and database_up 0: an operator keeps
        # the HTTP counters (its 503s among them) and the process figures when they matter most.
        read: list[Metric] = []
        try:
            read = list(_from_the_database(svc))
        except Exception as exc:
            if not is_store_trouble(exc):
                raise
        yield gauge("database_up", "Whether this scrape could read the database: 1 or 0 (then "
                    "the figures read from it are left out).", 1 if read else 0)
        yield from read


def _from_the_database(svc: Services) -> Iterator[Metric]:
    nodes = sum(svc.admins.directory.cluster_sizes().values())  # fresh, not the last tick
    yield prometheus.gauge("nodes", "Nodes registered across all clusters.", nodes)
    yield from prometheus.lags(svc)
    yield from prometheus.webhook_backlog(svc)


async def metrics_endpoint(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.http_metrics
    body = await run_in_threadpool(generate_latest, metrics.registry)
    # Every name here is plain ASCII, so the text is 0.0.4; declaring that version keeps older
    # Prometheus servers and agents, which do not know 1.0.0, scraping.
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


ROUTES = [
    route("GET", "/api/v1/admins/me/metrics", admin_metrics, Op(
        METRICS, "Get metrics for this admin", 200, "AdminMetrics", (503,),
        description="This process's counters since it started." + NULL_NOTE)),
]
# Outside the API (and its document): scraped by Prometheus, no API key.
SCRAPE_ROUTES = [Route("/metrics", metrics_endpoint, methods=["GET"])]
