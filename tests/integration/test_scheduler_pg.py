"""The scheduler on PostgreSQL: expiry survives an admin restart, with two admins on one
database only the holder of the scheduler lock acts, and silence during a database outage is
counted against neither the nodes nor the other admins."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from uuid import UUID

import msgspec
import psycopg
import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from domain.node_status import NodeStatus
from entrypoints.bootstrap import Services, build_lock, build_lock_session, build_services
from entrypoints.workers.membership import join_admin_cluster, membership_once
from entrypoints.workers.scheduler import schedule_once
from entrypoints.workers.sweeper import sweep_once
from projections.query import Cond, ListQuery
from tests.conftest import PG_BASE, make_settings
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


def test_silence_while_the_database_was_away_is_not_the_nodes(pg_url: str) -> None:
    """Heartbeats are refused while the database is away: when it came back, the sweep found
    every node silent for as long as the outage and marked them unreachable (which also failed
    the deployments they had not started). Silence counts again from the database's return."""
    clock = FixedClock()
    app_name = f"t{uuid.uuid4().hex[:10]}"
    services = build_services(make_settings(pg_url, database_app_name=app_name), clock=clock)
    services.start()
    try:
        [node] = _fleet(services, 1)
        services.nodes.heartbeat(node, NodeStatus.HEALTHY)
        assert sweep_once(services) == 0
        clock.advance(120)  # the outage: no heartbeat could be recorded
        with psycopg.connect(PG_BASE, autocommit=True) as conn:  # the server restarting
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s", (f"{app_name}:locks",))
        time.sleep(1.1)  # a session that answered is trusted for a second
        assert sweep_once(services) == 0  # the dropped session: the lock is lost
        lock = services.scheduler_lock
        assert lock is not None and lock.held()  # the database is back
        assert sweep_once(services) == 0
        assert _node_status(services, node) == "healthy"
        clock.advance(31)  # silent for this long since the database came back
        assert sweep_once(services) == 1
        assert _node_status(services, node) == "unhealthy"
    finally:
        services.close()


def _node_status(services: Services, node: UUID) -> str:
    row = services.view.get("nodes", node)
    assert row is not None
    return str(row["status"])


def test_peers_silent_while_the_database_was_away_stay_in_the_topology(pg_url: str) -> None:
    """Admins could not check in while the database was away either: when it came back, each
    saw the others offline for a pass (degraded, refusing writes, clusters moved), and after an
    outage longer than ADMIN_FORGET_AFTER_SECONDS the lock holder forgot them."""
    clock = FixedClock()
    app_name = f"t{uuid.uuid4().hex[:10]}"
    mine = build_services(make_settings(pg_url, database_app_name=app_name,
                                        admin_id="bbbbbbbbbbbb"), clock=clock)
    peer = build_services(make_settings(pg_url, admin_id="aaaaaaaaaaaa"), clock=clock)
    mine.start()
    peer.start()
    both = ["admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"]
    try:
        join_admin_cluster(peer)
        join_admin_cluster(mine)
        membership_once(mine)
        assert [m.name for m in mine.admins.latest().live] == both
        clock.advance(2 * 3600)  # the outage: nobody could check in, for longer than forgetting
        lock = mine.scheduler_lock
        assert lock is not None
        opened = lock.sessions
        with psycopg.connect(PG_BASE, autocommit=True) as conn:  # the server restarting
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s", (f"{app_name}:locks",))
        deadline = time.monotonic() + 10
        while lock.sessions == opened:  # noticed (by the projector's lock too), opened again
            assert time.monotonic() < deadline
            lock.held()
            time.sleep(0.1)
        membership_once(mine)  # its first pass with the database back
        assert [m.name for m in mine.admins.latest().live] == both
        assert [m.name for m in mine.admins.recompute().live] == both  # as GET /admins/... do
        assert not mine.admins.degraded()
        clock.advance(16)  # the peer stays silent since: now it is offline
        membership_once(mine)
        assert [m.name for m in mine.admins.latest().live] == ["admin-bbbbbbbbbbbb"]
    finally:
        mine.close()
        peer.close()


def test_silence_while_the_read_models_were_rebuilt_is_not_the_nodes(pg_url: str) -> None:
    """While the read models are rebuilt at start (an upgrade), a node not projected yet has
    its heartbeats refused (503): silence counted from the process's start, so a rebuild
    longer than NODE_UNREACHABLE_AFTER_SECONDS had the first sweep after it mark such nodes
    unreachable (and fail the deployments they had not started). Silence counts from when
    the read model held the log again."""
    clock = FixedClock()
    settings = make_settings(pg_url)
    first = build_services(settings, clock=clock)
    first.start()
    try:
        [node] = _fleet(first, 1)
        first.nodes.heartbeat(node, NodeStatus.HEALTHY)
    finally:
        first.close()
    stopped = build_services(settings, clock=clock)
    stopped.view.reset(stopped.store.name)  # what a rebuild at start begins with
    stopped.close()

    clock.advance(5)
    # The rebuild is held back while another session holds the projector's lock.
    holder = build_lock(settings, "projector", build_lock_session(settings))
    assert holder is not None and holder.held()
    services = build_services(settings, clock=clock)
    try:
        assert services.rebuilding_to
        services.start()
        assert sweep_once(services) == 0  # rebuilding
        clock.advance(120)  # how long the rebuild took: no heartbeat of it could be recorded
        assert sweep_once(services) == 0
        holder.release()
        services.projector.wait(services.rebuilding_to, timeout=30)
        assert sweep_once(services) == 0
        assert _node_status(services, node) == "healthy"
        clock.advance(31)
        assert sweep_once(services) == 1
        assert _node_status(services, node) == "unhealthy"
    finally:
        services.close()
