"""GET /metrics in the Prometheus text format: request latency by route, this process's counters
(the same ones E6 shows), the fleet and topology gauges, and the process collector.

Each app has its own registry (tests run several apps in one process). Names follow the
Prometheus conventions: an `edge_admin_` prefix, base units, `_total` on counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from entrypoints.http.admin_metrics import collect

# Latency buckets from 1 ms to 10 s: the API's answers are mostly single-digit milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SKIPPED_GROUPS = ("application", "oban_queues", "timestamp")


class HttpMetrics:
    """Per-app registry and the request instruments the middleware feeds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            "edge_admin_http_request_duration_seconds", "HTTP request latency by route",
            ("method", "route"), buckets=BUCKETS, registry=self.registry)
        self.requests = Counter(
            "edge_admin_http_requests", "HTTP requests answered, by route and status",
            ("method", "route", "status"), registry=self.registry)
        ProcessCollector(registry=self.registry, namespace="edge_admin")
        self.services: Any = None
        self.registry.register(_ServiceCollector(self))

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        self.duration.labels(method, route).observe(time.perf_counter() - started)
        self.requests.labels(method, route, str(status)).inc()


class _ServiceCollector(Collector):
    """Reads the services' counters at scrape time (nothing is copied between scrapes)."""

    def __init__(self, owner: HttpMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        svc = self.owner.services
        if svc is None:
            return
        groups = collect(svc)
        for group, fields in groups.items():
            if group in SKIPPED_GROUPS or not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                yield from _family(group, name, value)
        topology = svc.admins.latest()
        nodes = sum(svc.admins.directory.cluster_sizes().values())  # fresh, not the last tick
        yield _gauge("nodes", "Nodes registered across all clusters", nodes)
        yield _gauge("admins_live", "Live admins in this admin cluster", len(topology.live))
        yield _gauge("edge_capacity", "Total edge-node capacity of the live admins",
                     sum(topology.edge_capacity.values()))
        yield _gauge("uptime_seconds", "Seconds since this admin started",
                     groups["application"]["uptime_seconds"])
        yield from _projection(svc)
        yield from _unsealing(svc)


def _projection(svc: Any) -> Iterator[Metric]:
    """What an operator alerts on: a read model that cannot apply an event (writes are refused
    until it can) and one that falls behind the log."""
    worker = svc.projector
    failure = svc.projector_failure()
    head = svc.store.recorder.max_notification_id() or 0
    position = worker.position if worker.running() else (
        worker.projection.view.max_tracking_id(worker.application_name) or 0)
    yield _gauge("projection_stuck", "1 while the read model cannot apply an event (writes are "
                 "refused); /readyz names the event", 1 if failure is not None else 0)
    yield _gauge("projection_position", "Last event position the read model holds",
                 position)
    yield _gauge("projection_lag_events", "Events recorded but not yet in the read model",
                 max(0, head - position))
    yield CounterMetricFamily("edge_admin_projection_failures",
                              "Attempts at applying events that raised, in this process",
                              value=worker.failed_attempts)


def _unsealing(svc: Any) -> Iterator[Metric]:
    """A key missing from ENCRYPTION_KEY: alert on the gauge (README: key rotation)."""
    failures = svc.unsealing
    yield CounterMetricFamily("edge_admin_secret_unseal_failures",
                              "Sealed values that did not open (every attempt)",
                              value=failures.total)
    yield _gauge("secrets_unsealable", "Objects whose sealed values do not open, still in use",
                 len(failures.unsealable()))


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"edge_admin_{name}", doc, value=value)


def _family(group: str, name: str, value: Any) -> Iterator[Metric]:
    if value is None or isinstance(value, str):
        return  # no meaning here (documented in E6), or not a number
    number = float(value)  # booleans become 0/1 gauges
    if name.endswith("_total") and not isinstance(value, bool):
        base = f"edge_admin_{group}_{name.removesuffix('_total')}"
        yield CounterMetricFamily(base, f"{group}.{name}", value=number)
    else:
        yield GaugeMetricFamily(f"edge_admin_{group}_{name}", f"{group}.{name}", value=number)


async def metrics_endpoint(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.http_metrics
    body = await run_in_threadpool(generate_latest, metrics.registry)
    # Every name here is plain ASCII, so the text is 0.0.4; declaring that version keeps older
    # Prometheus servers and agents, which do not know 1.0.0, scraping.
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
