"""Read-model versions on every SQL store: a new database records its version, the same
release keeps its tables, an older build is dropped and replayed, a newer one is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from adapters.postgres_views import PostgresTableView
from adapters.sqlite_views import SQLiteTableView
from projections.model import Kind, Table, Upsert, cols
from projections.versioning import META, Action, ReadModelTooNewError, ReadModelVersion
from projections.view import TableView
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
