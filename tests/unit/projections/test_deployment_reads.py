"""DeploymentReads on the memory and SQLite views: rows as the deployment handlers write them
(columns filled by later events left out) read back as records, and the named questions the
route modules ask answer from the right rows."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking

from adapters.memory_views import MemoryTableView
from adapters.sqlite_views import SQLiteFleetView
from domain.deployment import Status
from domain.node_status import NodeStatus
from projections.deployment_handlers import version_id
from projections.deployment_reads import DeploymentReads
from projections.fleet_tables import FLEET_TABLES
from projections.model import Upsert
from projections.query import Cond
from projections.view import TableView
from tests.unit.projections.test_query_sqlite import construct_view
from tests.unit.projections.test_records import _node

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def view(request: pytest.FixtureRequest, tmp_path: Path) -> typing.Iterator[TableView]:
    if request.param == "memory":
        yield MemoryTableView(FLEET_TABLES)
        return
    factory, built = construct_view(SQLiteFleetView, f"sqlite:///{tmp_path / 'd.db'}")
    yield built
    factory.close()


def _write(view: TableView, *changes: Upsert) -> None:
    view.apply([(list(changes), Tracking("fleet", 1))])


def test_a_requested_deployment_reads_with_what_later_events_fill_as_none(
    view: TableView,
) -> None:
    deployment_id = uuid4()
    # the columns Deployment.Requested writes (projections/deployment_handlers.py _requested)
    row = {"request_id": "abc123", "id": deployment_id, "app_name": "game", "app_version": "v1",
           "status": Status.SEEKING.value, "last_status": None, "error": False, "error_detail": "",
           "start_time": NOW, "spec": "{}", "delete_token": None, "max_duration": 0,
           "ports": "{}", "location": "{}", "updated_at": NOW}
    tags = [Upsert("deployment_tags", {"id": uuid4(), "deployment_id": deployment_id,
                                       "name": name, "create_time": NOW + timedelta(seconds=s),
                                       "last_updated": NOW})
            for name, s in (("zeta", 0), ("beta", 1), ("alpha", 1))]
    _write(view, Upsert("deployments", row), *tags)
    reads = DeploymentReads(view)
    got = reads.deployment("abc123")
    assert got is not None
    assert (got.id, got.status, got.node_id, got.ready_at, got.exit_code, got.max_duration) == (
        deployment_id, Status.SEEKING.value, None, None, None, 0)
    assert reads.deployment("nope") is None
    assert [t.name for t in reads.tags_of(deployment_id)] == ["zeta", "alpha", "beta"]
    assert reads.tags_of(uuid4()) == []


def test_apps_versions_and_hosts_read_as_records(view: TableView) -> None:
    live, gone = uuid4(), uuid4()
    apps = [Upsert("apps", {"id": i, "name": n, "version_count": 1, "deleted": d,
                            "inserted_at": NOW, "updated_at": NOW})
            for i, n, d in ((gone, "old", True), (live, "game", False))]
    version = {"id": version_id("game", "v1"), "app_name": "game", "name": "v1", "image": "i",
               "ports": "[]", "cpu_units": 256, "memory_mb": 128, "env": "[]",
               "max_duration": 0, "command": None, "arguments": None, "inserted_at": NOW}
    node = _node(uuid4(), "t")
    hosts = [Upsert("hosts", {"node_id": n, "fleet": f, "location": "{}", "cpu_units": 1024,
                              "memory_mb": 512, "allocated_cpu_units": 0,
                              "allocated_memory_mb": 0, "deployment_count": 0,
                              "inserted_at": NOW, "updated_at": NOW})
             for n, f in ((node["id"], "blue"), (uuid4(), None))]
    _write(view, *apps, Upsert("app_versions", version), Upsert("nodes", node), *hosts)
    reads = DeploymentReads(view)
    found = reads.app_named("game")
    assert found is not None and found.id == live
    assert reads.app_named("old") is None
    got = reads.version("game", "v1")
    assert got is not None and (got.cpu_units, got.command) == (256, None)
    assert reads.version("game", "v2") is None
    every = reads.every_host()
    assert [h.node_id for h in every] == sorted((h.row["node_id"] for h in hosts), key=str)
    (blue,) = reads.every_host(Cond("fleet", "eq", "blue"))
    assert (blue.status, blue.cluster_name, blue.images) == (NodeStatus.HEALTHY, "east", None)
    unknown = next(h for h in every if h.fleet is None)
    assert (unknown.status, unknown.cluster_name) == (None, None)
