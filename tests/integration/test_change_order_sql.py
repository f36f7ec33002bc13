"""Reordered, folded changes written as multi-row statements (TableView.apply_bulk, on
PostgreSQL through adapters.sql_bulk) end in the rows the original order writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings

from adapters.postgres_views import PostgresTableView
from adapters.sqlite_views import SQLiteTableView
from projections.model import Change, Increment, Patch, Upsert, UpsertMax
from projections.view import TableView
from tests.unit.projections.test_change_order import (
    EVENTS,
    ROW_EVENTS,
    TABLES,
    THINGS,
    same_end_state,
)
from tests.unit.projections.test_query_sqlite import construct_view

pytestmark = pytest.mark.integration


T1, T2, T3 = (datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in (1, 2, 3))


class PgView(PostgresTableView):
    tables = TABLES


class LiteView(SQLiteTableView):
    tables = TABLES


@pytest.fixture(params=["sqlite", "postgres"])
def view(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[TableView]:
    if request.param == "sqlite":
        factory, built = construct_view(LiteView, sqlite_url)
    else:
        factory, built = construct_view(PgView, str(request.getfixturevalue("pg_url")))
    yield built
    factory.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setup=ROW_EVENTS, events=EVENTS | ROW_EVENTS)
@example(  # rows that exist, each kind of group meeting them (a later and an earlier time)
    setup=[[Upsert(THINGS.name, {"id": k, "at": T2, "n": 1}) for k in "abc"]],
    events=[[UpsertMax(THINGS.name, {"id": "a", "at": T3}, "at"),
             UpsertMax(THINGS.name, {"id": "b", "at": T1}, "at"),
             UpsertMax(THINGS.name, {"id": "d", "at": T1}, "at")],
            [Patch(THINGS.name, {"id": k}, {"s": k}) for k in "abd"],
            [Increment(THINGS.name, {"id": k}, "n", 2) for k in "abd"]],
)
def test_bulk_writes_end_alike(view: TableView, setup: list[list[Change]],
                               events: list[list[Change]]) -> None:
    same_end_state(view, setup, events)  # each example starts from reset tables
