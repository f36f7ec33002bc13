"""Agents' health observations stay bounded on every store: at most MAX_PER_RESOURCE per
resource (the oldest go first, other resources untouched), nothing past the telemetry
retention (the scheduler's pass), and a live probe is handed out once, only while fresh."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from adapters.resource_health import ViewHealthObservations
from adapters.work_doorbell import WorkDoorbell
from application.resource_health import PAGE, PROBE_TTL, ResourceHealth
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.scheduler import schedule_once
from projections.resource_health_reads import ResourceHealthReads
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def row(resource_id: UUID, at: datetime) -> dict[str, object]:
    return {"id": uuid.uuid4(), "resource_id": resource_id, "deployment_id": uuid.uuid4(),
            "request_id": "aaaaaaaaaaaa", "node_id": uuid.uuid4(), "observed_at": at,
            "kind": "heartbeat", "lifecycle": "running", "health": "healthy",
            "overall": "healthy", "message": "", "duration_ms": None, "status_code": None,
            "exit_code": None, "probe_id": None}


@pytest.fixture
def loop(services: Services) -> Iterator[asyncio.Runner]:
    """One event loop for the awaited calls (PostgreSQL's read pool belongs to the loop that
    used it, and is closed on it)."""
    with asyncio.Runner() as runner:
        yield runner
        aclose = getattr(services.view, "aclose", None)
        if aclose is not None:
            runner.run(aclose())


def add_all(loop: asyncio.Runner, rows: ViewHealthObservations, *added: dict[str, object]
         ) -> None:
    async def each() -> None:
        for observation in added:
            await rows.add_async(observation)

    loop.run(each())


def test_each_resource_keeps_its_newest_observations(services: Services,
                                                     loop: asyncio.Runner) -> None:
    rows, reads = ViewHealthObservations(services.view), ResourceHealthReads(services.view)
    one, other = uuid.uuid4(), uuid.uuid4()
    add_all(loop, rows, *(row(one, NOW + timedelta(seconds=i)) for i in range(7)),
         row(other, NOW - timedelta(days=1)))
    assert loop.run(rows.trim_async(one, 5)) == 2
    assert loop.run(rows.trim_async(one, 5)) == 0
    kept = reads.window(one, NOW - timedelta(days=2), NOW + timedelta(days=1), 720)
    assert [o.observed_at for o in kept] == [NOW + timedelta(seconds=i) for i in range(2, 7)]
    assert len(reads.window(other, NOW - timedelta(days=2), NOW, 720)) == 1
    newest = reads.window(one, NOW, NOW + timedelta(days=1), 2)
    assert [o.observed_at for o in newest] == [NOW + timedelta(seconds=i) for i in (5, 6)]


def test_retention_deletes_old_observations_and_probes_page_by_page(
    services: Services, loop: asyncio.Runner
) -> None:
    rows = ViewHealthObservations(services.view)
    resource, old = uuid.uuid4(), NOW - timedelta(days=8)
    add_all(loop, rows, *(row(resource, old + timedelta(seconds=i)) for i in range(PAGE + 3)),
         row(resource, NOW))
    health = ResourceHealth(rows, services.deployment_finder, WorkDoorbell(), FixedClock(old))
    health.ask(resource, "aaaaaaaaaaaa", uuid.uuid4())
    health.clock = FixedClock(NOW)
    assert health.prune(7) == PAGE + 1  # a page of observations, the probe
    assert health.prune(7) == 3
    assert health.prune(7) == 0
    left = ResourceHealthReads(services.view).window(resource, old, NOW, 720)
    assert [o.observed_at for o in left] == [NOW]


def test_a_probe_is_handed_out_once_and_only_while_fresh(services: Services) -> None:
    clock = FixedClock(NOW)
    health = ResourceHealth(ViewHealthObservations(services.view), services.deployment_finder,
                            WorkDoorbell(), clock)
    node, other = uuid.uuid4(), uuid.uuid4()
    asked = health.ask(uuid.uuid4(), "aaaaaaaaaaaa", node)
    assert health.probes_for(other) == []
    [probe] = health.probes_for(node)
    assert (probe.probe_id, probe.request_id) == (asked, "aaaaaaaaaaaa")
    assert health.probes_for(node) == []
    health.ask(uuid.uuid4(), "bbbbbbbbbbbb", node)
    clock.advance(PROBE_TTL.total_seconds() + 1)
    assert health.probes_for(node) == []  # its asker has given up


def test_the_scheduler_applies_the_retention_setting() -> None:
    services = build_services(make_settings("memory://", telemetry_retention_days=0.5))
    services.start()
    try:
        rows, now = ViewHealthObservations(services.view), services.writes.clock.now()
        resource = uuid.uuid4()
        with asyncio.Runner() as loop:  # memory://: no read pool to close
            add_all(loop, rows, row(resource, now - timedelta(days=1)), row(resource, now))
        schedule_once(services)
        kept = ResourceHealthReads(services.view).window(resource, now - timedelta(days=2), now,
                                                         10)
        assert [o.observed_at for o in kept] == [now]
    finally:
        services.close()
