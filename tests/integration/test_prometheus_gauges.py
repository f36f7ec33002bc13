"""The gauges an operator alerts on move with what they measure, on every persistence kind:
projection and relay lag rise as events are recorded while the projector and the relay are held
back and fall to 0 when they run; the webhook backlog counts pending deliveries and the oldest
one's age grows with the clock. Read through the same collector /metrics serves, parsed with
prometheus_client's parser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from application.ports import NewDelivery
from domain.cluster import Cluster
from entrypoints.bootstrap import Services, build_services
from entrypoints.http.admin_metrics import HttpMetrics
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def held(any_url: str, clock: FixedClock) -> Iterator[Services]:
    """Services whose projector does not run (this test applies events by hand) and whose relay
    runs only when the test drains it; no default cluster, so nothing is recorded at start."""
    # Not in the insert transaction either (WRITE_PROJECT_IN_COMMIT): nothing may project.
    built = build_services(make_settings(any_url, run_projections=False,
                                         write_project_in_commit=False), clock)
    built.start()
    yield built
    built.close()


def gauges(svc: Services) -> dict[str, float]:
    metrics = HttpMetrics()
    metrics.services = svc
    text = generate_latest(metrics.registry).decode()
    return {f.name: f.samples[0].value for f in text_string_to_metric_families(text)
            if f.type == "gauge" and len(f.samples) == 1}


def record_clusters(svc: Services, count: int, clock: FixedClock) -> None:
    """Internal events (a cluster's creation is not published), saved as another admin would."""
    for _ in range(count):
        name = f"c{uuid4().hex[:8]}"
        svc.store.save(Cluster.create(uuid4(), name, "10.0.0.0/16", None, clock.now()))


def test_projection_and_relay_lag_rise_and_fall(held: Services, clock: FixedClock) -> None:
    before = gauges(held)
    assert before["edge_admin_projection_lag_events"] == 0
    assert before["edge_admin_relay_lag_events"] == 0

    record_clusters(held, 3, clock)
    lagging = gauges(held)
    assert lagging["edge_admin_projection_lag_events"] == 3
    assert lagging["edge_admin_relay_lag_events"] == 3

    held.projector.catch_up()
    projected = gauges(held)
    assert projected["edge_admin_projection_lag_events"] == 0
    assert projected["edge_admin_projection_position"] == lagging[
        "edge_admin_projection_position"] + 3
    assert projected["edge_admin_relay_lag_events"] == 3

    # Nothing public to publish: the relay still moves past the internal events.
    asyncio.run(held.relay.drain(asyncio.Event()))
    relayed = gauges(held)
    assert relayed["edge_admin_relay_lag_events"] == 0
    assert relayed["edge_admin_relay_position"] == relayed["edge_admin_projection_position"]


def test_webhook_backlog_counts_pending_deliveries_and_the_oldest_ages(
    held: Services, clock: FixedClock,
) -> None:
    assert held.deliveries is not None
    empty = gauges(held)
    assert empty["edge_admin_webhook_deliveries_pending"] == 0
    assert empty["edge_admin_webhook_oldest_pending_delivery_age_seconds"] == 0

    webhook = uuid4()
    owed = [NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", p, b"{}")
            for p in (1, 2)]
    held.deliveries.enqueue(owed)
    clock.advance(30)
    held.deliveries.enqueue([NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", 3,
                                         b"{}")])
    clock.advance(15)
    backlog = gauges(held)
    assert backlog["edge_admin_webhook_deliveries_pending"] == 3
    assert backlog["edge_admin_webhook_oldest_pending_delivery_age_seconds"] == 45

    clock.advance(60)
    assert gauges(held)["edge_admin_webhook_oldest_pending_delivery_age_seconds"] == 105
