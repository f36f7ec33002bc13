"""A projection stuck in one process is known to every process of the database: a second
admin (not projecting) refuses writes at once too, and sees it clear when it is applied."""

from __future__ import annotations

import time
from typing import Any

import pytest

from application.clusters import CreateCluster
from domain.cluster import Cluster
from entrypoints.bootstrap import build_services
from projections import fleet
from projections.status import ProjectionStuckError
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


HANDLERS: dict[Any, Any] = fleet.HANDLERS  # keyed by event classes made at class creation


def broken(event: Any) -> list[Any]:
    raise RuntimeError("injected bug")


def test_other_processes_refuse_writes_while_the_projector_is_stuck(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader = build_services(make_settings(pg_url))
    leader.start()
    follower = build_services(make_settings(pg_url))  # projects too, once it leads
    follower.start()
    try:
        assert leader.lock is not None and leader.lock.held()
        monkeypatch.setitem(HANDLERS, Cluster.Created, broken)
        with pytest.raises(ProjectionStuckError):
            leader.clusters.create(CreateCluster(name="first"))
        deadline = time.monotonic() + 5
        while follower.projector.failure is None:
            assert time.monotonic() < deadline, "the follower never heard of the failure"
            time.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(ProjectionStuckError) as refused:
            follower.clusters.create(CreateCluster(name="second"))
        assert time.monotonic() - started < 0.5
        assert "Cluster.Created" in str(refused.value)
        assert follower.projector.current_failure() is not None
        monkeypatch.undo()  # the leader's next attempt applies it
        deadline = time.monotonic() + 10
        while follower.projector.failure is not None:
            assert time.monotonic() < deadline, "the follower never heard of the recovery"
            time.sleep(0.05)
        follower.clusters.create(CreateCluster(name="third"))
        names = {r["name"] for r in follower.view.select("clusters", {})}
        assert {"first", "third"} <= names
    finally:
        follower.close()
        leader.close()
