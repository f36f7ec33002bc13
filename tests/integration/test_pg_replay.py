"""Replay: rebuilding the read model from the event log reproduces every row exactly."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest

from application.agent_protocol import EnrollNode, Ports, ReregisterNode
from application.aliases import CreateAlias
from application.clusters import CreateCluster, UpdateCluster
from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from application.nodes import ChangeCluster
from domain.alias import Alias
from domain.node_status import NodeStatus
from entrypoints import replay
from entrypoints.bootstrap import Services, build_services
from entrypoints.replay import rebuild
from projections import fleet, runner
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change, Upsert
from projections.runner import EventFailedError
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


@contextmanager
def running(url: str, **overrides: Any) -> Iterator[Services]:
    services = build_services(make_settings(url, **overrides))
    try:
        services.start()
        yield services
    finally:
        services.close()
        # Services.close() leaves the SQL view's connection pool open; close it ourselves.
        datastore = getattr(services.view, "datastore", None)
        if datastore is not None:
            datastore.close()


def blob(services: Services, cluster: str, **kw: Any) -> str:
    key_id = services.enrollment_keys.issue(cluster, IssueEnrollmentKey(**kw))
    return str(must_get(services, "enrollment_keys", key_id)["key"])


def build_history(s: Services) -> None:
    """Touches every event type the fleet projection handles."""
    a, b, gone = ("c" + uuid4().hex[:8] + suffix for suffix in ("-a", "-b", "-x"))
    s.clusters.create(CreateCluster(name=a, node_limit=10))
    s.clusters.create(CreateCluster(name=b, ipv4_range="10.20.0.0/16"))
    s.clusters.create(CreateCluster(name=gone))
    s.clusters.update(a, UpdateCluster(node_limit=20))
    used_id = s.enrollment_keys.issue(a, IssueEnrollmentKey(name="rollout", uses_remaining=3))
    used = must_get(s, "enrollment_keys", used_id)["key"]
    s.enrollment_keys.update(used_id, UpdateEnrollmentKey(uses_remaining=10, name=None))
    s.enrollment_keys.delete(s.enrollment_keys.issue(a, IssueEnrollmentKey()))
    blob(s, gone)  # dropped from the read model with its cluster
    persistent = uuid4()
    cmd = EnrollNode(enrollment_key=used, id_type="persistent", node_id=persistent,
                     version="1.0.0", ports=Ports(ssh_port=2200))
    s.nodes.enroll(cmd)
    s.nodes.enroll(EnrollNode(enrollment_key=used, id_type="persistent",
                              node_id=persistent, version="1.1.0"))
    mover = s.nodes.enroll(EnrollNode(enrollment_key=used)).node_id
    doomed = s.nodes.enroll(EnrollNode(enrollment_key=used)).node_id
    s.aliases.create(mover, CreateAlias(name="web"))
    s.aliases.delete(s.aliases.create(mover, CreateAlias(name="tmp")))
    s.aliases.create(doomed, CreateAlias(name="db"))
    s.nodes.change_cluster(mover, ChangeCluster(cluster_name=b))
    s.nodes.delete(doomed)
    s.nodes.reregister(mover, ReregisterNode(version="2.0.0", self_update_enabled=True))
    s.nodes.set_status(persistent, NodeStatus.UNREACHABLE, "timeout")
    s.nodes.heartbeat(persistent, NodeStatus.HEALTHY)
    s.nodes.enroll(EnrollNode(enrollment_key=blob(s, b, uses_remaining=None)))
    phoenix_id = uuid4()
    phoenix = EnrollNode(enrollment_key=used, id_type="persistent", node_id=phoenix_id)
    s.nodes.enroll(phoenix)
    s.nodes.delete(phoenix_id)
    s.nodes.enroll(phoenix)  # a deleted persistent node comes back
    s.clusters.delete(gone)


def snapshot(services: Services) -> dict[str, list[dict[str, Any]]]:
    return {t.name: services.view.select(t.name, {}) for t in FLEET_TABLES}


@pytest.fixture(params=["postgres", "sqlite"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


# 10,000 puts the whole history in one page; 2 and 3 keep a page in the writer's hands while the
# next is prepared at every step, and end on a full page or a short one.
PAGES = [10_000, 3, 2]


@pytest.mark.parametrize("page", PAGES)
def test_rebuild_reproduces_every_row(
    url: str, page: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay, "REPLAY_PAGE", page)
    with running(url) as live:
        build_history(live)
        before = snapshot(live)
    assert before["clusters"] and before["nodes"] and before["aliases"]
    assert before["enrollment_keys"]
    # Like `edge-admin replay`: a separate process with projections off rebuilds the tables.
    with running(url, run_projections=False) as offline:
        report = rebuild(offline)
        after = snapshot(offline)
        logged = len(offline.store.recorder.select_notifications(0, 1_000_000))
    assert report.events == logged
    assert after == before


def test_rebuild_twice_is_stable(url: str) -> None:
    with running(url) as live:
        live.clusters.create(CreateCluster(name="c" + uuid4().hex[:8]))
    with running(url, run_projections=False) as offline:
        first = rebuild(offline)
        rows = snapshot(offline)
        second = rebuild(offline)
        assert snapshot(offline) == rows
    assert first.events == second.events > 0


def _raises(event: Any) -> list[Change]:
    raise RuntimeError("injected bug")


def _refused_by_the_store(event: Any) -> list[Change]:
    """Made without complaint, refused when written: no integer column holds 2**63."""
    return [Upsert("clusters", {"id": event.originator_id, "name": event.name,
                                "node_count": 2**63})]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("bug", [_raises, _refused_by_the_store])
def test_a_failing_event_stops_the_rebuild_with_everything_before_it_applied(
    url: str, page: int, bug: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replay's page (thousands of events, folded) that cannot be made or written is applied
    again event by event: the events before the bad one are in the read model, the bad one is
    named, and the position stops just before it, whether the page failed while it was made
    or in the writer's hands while the next was made."""
    monkeypatch.setattr(replay, "REPLAY_PAGE", page)
    with running(url) as live:
        build_history(live)
    handlers: dict[Any, Any] = fleet.HANDLERS
    original = handlers[Alias.Created]

    def fails_on_tmp(event: Any) -> list[Any]:
        if event.name == "tmp":
            return list(bug(event))
        return list(original(event))

    monkeypatch.setitem(handlers, Alias.Created, fails_on_tmp)
    with running(url, run_projections=False) as offline:
        with pytest.raises(EventFailedError) as failed:
            rebuild(offline)
        position = offline.view.max_tracking_id(offline.store.name)
        aliases = offline.view.select("aliases", {})
    assert isinstance(failed.value.event, Alias.Created)
    assert position == failed.value.notification_id - 1
    assert [a["name"] for a in aliases] == ["web"]  # the first alias; "tmp" failed


def test_the_cyclic_collector_is_back_after_a_rebuild_that_fails(
    url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replay runs the collector itself (entrypoints.replay._rare_collections); after it,
    failed or not, the process collects as before and nothing stays frozen."""
    with running(url) as live:
        build_history(live)
    handlers: dict[Any, Any] = fleet.HANDLERS
    monkeypatch.setitem(handlers, Alias.Created, _raises)
    with running(url, run_projections=False) as offline:
        with pytest.raises(EventFailedError):
            rebuild(offline)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("page", PAGES)
def test_a_read_model_left_behind_catches_up_at_start_to_every_row(
    url: str, page: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rebuild at start (a read model that holds less of the log than the log) reads and
    applies pages as a replay's (runner.CATCH_UP_PAGE, folded): the rows are the live ones,
    and once it has caught up the process collects as before."""
    monkeypatch.setattr(runner, "CATCH_UP_PAGE", page)
    with running(url) as live:
        build_history(live)
        before = snapshot(live)
        head = live.store.recorder.max_notification_id() or 0
        live.view.reset(live.store.name)  # what a rebuild at start begins with
    with running(url) as again:
        assert again.rebuilding_to == head
        again.projector.wait(head)
        after = snapshot(again)
        reads = again.projector.log_reads
    assert after == before
    assert reads >= head // page  # pages of the catch-up's size, not the live 500
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_an_event_that_fails_while_catching_up_at_start_stops_it_there(
    url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in a replay: everything before the bad event is applied, the projector is stuck on
    it, and while it is stuck the process collects as before (the large pages' pause of the
    collector ends)."""
    monkeypatch.setattr(runner, "CATCH_UP_PAGE", 3)
    with running(url) as live:
        build_history(live)
        live.view.reset(live.store.name)
    handlers: dict[Any, Any] = fleet.HANDLERS
    original = handlers[Alias.Created]

    def fails_on_tmp(event: Any) -> list[Any]:
        if event.name == "tmp":
            raise RuntimeError("injected bug")
        return list(original(event))

    monkeypatch.setitem(handlers, Alias.Created, fails_on_tmp)
    with running(url) as again:
        deadline = time.monotonic() + 30
        while again.projector.failure is None or not gc.isenabled():
            assert time.monotonic() < deadline, again.projector.failure
            time.sleep(0.05)
        failure = again.projector.failure
        position = again.view.max_tracking_id(again.store.name)
        aliases = again.view.select("aliases", {})
    assert failure.event_type == "Alias.Created"
    assert position == failure.notification_id - 1
    assert [a["name"] for a in aliases] == ["web"]
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
