"""Read-model versions on every SQL store: a new database records its version, the same
release keeps its tables, an older build is dropped and replayed, a newer one is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from adapters.postgres_views import PostgresTableView
from adapters.sqlite_views import SQLiteTableView
from application.clusters import CreateCluster
from entrypoints.bootstrap import Services, build_lock, build_services
from projections.fleet_tables import FLEET_VERSION
from projections.model import Kind, Table, Upsert, cols
from projections.versioning import META, Action, ReadModelTooNewError, ReadModelVersion
from projections.view import TableView, version_row
from tests.conftest import PG_BASE, make_settings
from tests.unit.projections.test_query_sqlite import construct_view

pytestmark = pytest.mark.integration

APP = "prepare"
THINGS = Table("p_things", "id", cols(("id", Kind.TEXT), ("n", Kind.INT)))
PINGS = Table("p_pings", "id", cols(("id", Kind.TEXT), ("n", Kind.INT)), owned=False)
V1 = ReadModelVersion("fleet", 1, "aaaa")
V2 = ReadModelVersion("fleet", 2, "bbbb")


class PgView(PostgresTableView):
    tables = (THINGS, PINGS, META)


class LiteView(SQLiteTableView):
    tables = (THINGS, PINGS, META)


@pytest.fixture(params=["sqlite", "postgres"])
def view(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[TableView]:
    if request.param == "sqlite":
        factory, built = construct_view(LiteView, sqlite_url)
    else:
        factory, built = construct_view(PgView, str(request.getfixturevalue("pg_url")))
    yield built
    factory.close()


def _fill(view: TableView, position: int) -> None:
    view.apply([([Upsert(THINGS.name, {"id": "a", "n": position})], Tracking(APP, position))])
    view.apply_untracked([Upsert(PINGS.name, {"id": "a", "n": position})])


def _meta(view: TableView) -> dict[str, Any] | None:
    return view.get(META.name, "fleet")


def test_a_release_records_keeps_rebuilds_and_refuses_by_version(view: TableView) -> None:
    assert view.prepare(APP, V1) is Action.RECORD
    assert view.prepare(APP, V1) is Action.KEEP
    _fill(view, 1)
    assert view.prepare(APP, V1) is Action.KEEP
    assert view.get(THINGS.name, "a") == {"id": "a", "n": 1}
    assert view.max_tracking_id(APP) == 1

    assert view.prepare(APP, V2) is Action.REBUILD
    assert view.select(THINGS.name, {}) == []  # owned: dropped, replayed from the start
    assert view.get(PINGS.name, "a") == {"id": "a", "n": 1}  # not from events: kept
    assert view.max_tracking_id(APP) is None
    meta = _meta(view)
    assert meta is not None
    assert (meta["version"], meta["fingerprint"]) == (2, "bbbb")

    _fill(view, 1)  # the rebuilt tables take the replay
    assert view.get(THINGS.name, "a") == {"id": "a", "n": 1}
    with pytest.raises(ReadModelTooNewError):
        view.prepare(APP, V1)


def test_a_projected_database_without_a_version_is_rebuilt(view: TableView) -> None:
    _fill(view, 3)
    assert view.prepare(APP, V1) is Action.REBUILD
    assert view.select(THINGS.name, {}) == []
    assert view.max_tracking_id(APP) is None


def test_a_changed_fingerprint_rebuilds_too(view: TableView) -> None:
    assert view.prepare(APP, V1) is Action.RECORD
    _fill(view, 2)
    assert view.prepare(APP, ReadModelVersion("fleet", 1, "cccc")) is Action.REBUILD
    assert view.select(THINGS.name, {}) == []


def _clusters(schema: str) -> int:
    with psycopg.connect(PG_BASE, autocommit=True, options=f"-csearch_path={schema}") as conn:
        row = conn.execute("SELECT count(*) FROM rm_clusters").fetchone()
    return int(row[0]) if row else 0


def test_an_upgrade_rebuilds_only_once_the_earlier_releases_projector_stopped(
    pg_url: str,
) -> None:
    """The earlier release's admin still runs (or still stops) and holds the projector's lock:
    dropping the read models under it let it record its position at the head while the
    rebuild started from nothing, and the rebuild then skipped the whole log (every list
    empty, /readyz ready). The new start waits for the lock before it drops anything."""
    settings = make_settings(pg_url, default_cluster_name="")
    schema = pg_url.split("?schema=")[1]
    before = build_services(settings)
    try:
        before.start()
        for n in range(5):
            before.clusters.create(CreateCluster(name=f"c{n}"))
        older = ReadModelVersion(FLEET_VERSION.name, FLEET_VERSION.version - 1,
                                 FLEET_VERSION.fingerprint)
        before.view.apply_untracked([version_row(older)])  # as the earlier release left it
    finally:
        before.close()
    earlier = build_lock(settings, "projector")  # the earlier release's running projector
    assert earlier is not None and earlier.held()
    built: list[Services] = []
    starting = threading.Thread(target=lambda: built.append(build_services(settings)))
    starting.start()
    try:
        time.sleep(1.5)
        assert starting.is_alive()  # waiting for the lock
        assert _clusters(schema) == 5  # nothing dropped under the earlier projector
    finally:
        earlier.release()
        starting.join(30)
    assert built, "the start did not go on once the lock was free"
    after = built[0]
    try:
        assert after.upgraded
        after.start()
        after.projector.wait(after.store.recorder.max_notification_id() or 0)
        assert _clusters(schema) == 5
    finally:
        after.close()
