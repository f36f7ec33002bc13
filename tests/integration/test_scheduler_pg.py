"""The scheduler on PostgreSQL: expiry survives an admin restart, and with two admins on one
database only the holder of the scheduler lock acts."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import msgspec
import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.scheduler import schedule_once
from projections.query import Cond, ListQuery
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration


def _fleet(services: Services, nodes: int) -> list[UUID]:
    services.clusters.create(CreateCluster(name="prod"))
    key_id = services.enrollment_keys.issue(
        "prod", msgspec.convert({"uses_remaining": None}, IssueEnrollmentKey))
    row = services.view.get("enrollment_keys", key_id)
    assert row is not None
    return [services.nodes.enroll(EnrollNode(enrollment_key=row["key"])).node_id
            for _ in range(nodes)]


def _command(services: Services, clock: FixedClock, expires_in: float) -> UUID:
    body = {"command_text": "sleep 600", "targeting": {"type": "all"},
            "expired_at": (clock.now() + timedelta(seconds=expires_in)).isoformat()}
    return services.commands.create(msgspec.convert(body, CreateCommand))


def _statuses(services: Services, command_id: UUID) -> list[str]:
    query = ListQuery((Cond("command_id", "eq", command_id),), page_size=100)
    return sorted(r["status"] for r in services.view.query("command_executions", query).rows)


def _started(url: str, clock: FixedClock) -> Services:
    services = build_services(make_settings(url), clock=clock)
    services.start()
    return services


def test_expiry_is_enforced_after_a_restart(pg_url: str) -> None:
    clock = FixedClock()
    first = _started(pg_url, clock)
    try:
        nodes = _fleet(first, 2)
        command_id = _command(first, clock, expires_in=60)
        assert first.executions.next_work(nodes[0], []).executions  # one is sent, one pending
        assert schedule_once(first) == 0  # nothing is due yet
    finally:
        first.close()
    clock.advance(61)
    second = _started(pg_url, clock)
    try:
        schedule_once(second)
        assert _statuses(second, command_id) == ["expired", "expired"]
    finally:
        second.close()


def test_only_the_lock_holder_runs_the_scheduler(pg_url: str) -> None:
    clock = FixedClock()
    one, two = _started(pg_url, clock), _started(pg_url, clock)
    try:
        _fleet(one, 3)
        command_id = _command(one, clock, expires_in=5)
        clock.advance(6)
        assert one.scheduler_lock is not None and one.scheduler_lock.held()
        assert schedule_once(two) == 0  # the other admin holds the lock: this one stays idle
        assert _statuses(two, command_id) == ["pending"] * 3
        assert schedule_once(one) == 3
    finally:
        one.close()
    try:
        clock.advance(1)
        command_two = _command(two, clock, expires_in=5)
        clock.advance(6)
        assert schedule_once(two) == 3  # the survivor takes over once the lock is free
        assert _statuses(two, command_two) == ["expired"] * 3
    finally:
        two.close()
