"""Heartbeats and enrollments taken on the event loop (the HTTP routes' way) mean what the
thread versions mean, on every persistence kind: last_seen_at only moves forward, a status
changes (and becomes an event) only on a transition, and the enrolled node is answered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from domain.node_status import NodeStatus
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration


@pytest.fixture
def loop_services(any_url: str, clock: FixedClock) -> Iterator[tuple[Services, asyncio.Runner]]:
    """Services and one event loop (PostgreSQL's read pool belongs to the loop that used it)."""
    services = build_services(make_settings(any_url), clock=clock)
    services.start()
    with asyncio.Runner() as runner:
        try:
            yield services, runner
        finally:
            aclose = getattr(services.view, "aclose", None)
            if aclose is not None:
                runner.run(aclose())
            services.close()


def test_heartbeats_on_the_loop_move_last_seen_forward_and_change_status_on_transitions(
    loop_services: tuple[Services, asyncio.Runner], clock: FixedClock, any_url: str
) -> None:
    services, loop = loop_services
    if any_url.startswith("postgresql"):
        assert services.view.reads_async, "the PostgreSQL view must write heartbeats on the loop"
    services.clusters.create(CreateCluster(name="prod"))
    key_id = services.enrollment_keys.issue("prod", IssueEnrollmentKey(uses_remaining=None))
    blob = services.view.get("enrollment_keys", key_id)
    assert blob is not None
    enrolled = loop.run(services.nodes.enroll_async(
        EnrollNode(enrollment_key=blob["key"], id_type="random", version="1.0.0")))
    node_id = enrolled.node_id
    row = services.view.get("nodes", node_id)
    assert row is not None and row["api_token"] == enrolled.api_token

    def seen() -> object:
        found = services.view.get("nodes", node_id)
        assert found is not None
        return found["last_seen_at"]

    def beat(reported: NodeStatus) -> str:
        seen = loop.run(services.nodes.heartbeat_async(enrolled.api_token, reported))
        assert seen is not None and seen.node_id == node_id
        return seen.status

    clock.advance(30)
    assert beat(NodeStatus.HEALTHY) == "healthy"
    assert seen() == clock.now()
    events = len(list(services.store.events.get(node_id)))
    latest = clock.now()
    clock.advance(-10)  # a heartbeat that arrives late must not move last_seen_at back
    assert beat(NodeStatus.HEALTHY) == "healthy"
    assert seen() == latest
    assert len(list(services.store.events.get(node_id))) == events  # no transition, no event
    clock.advance(40)
    assert beat(NodeStatus.UNHEALTHY) == "unhealthy"
    row = services.view.get("nodes", node_id)
    assert row is not None and (row["status"], row["last_seen_at"]) == ("unhealthy", clock.now())
    assert len(list(services.store.events.get(node_id))) == events + 1
