"""PostgreSQL, SQLite and the memory view return the same pages, totals, rows and changes.

The tables, strategies and checks come from tests/unit/projections/test_query_sqlite.py; this
module adds the PostgreSQL view (a private schema, created once per module) to the comparison.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings

from adapters.postgres_views import PostgresTableView
from projections.model import Change, Delete, Increment, Kind, Patch, Upsert, UpsertMax
from projections.query import AnyOf, Cond, ListQuery, Order
from projections.view import TableView
from tests.conftest import PG_BASE, pg_schema
from tests.unit.projections.test_query_sqlite import (
    EXAMPLES,
    ITEMS,
    OWNERS,
    TABLES,
    SQLiteQueryView,
    canon,
    change_scripts,
    check_changes,
    check_queries,
    check_select_by_key,
    construct_view,
    datasets,
    fresh_memory,
    load,
    query_scenarios,
)

pytestmark = pytest.mark.integration


class PostgresQueryView(PostgresTableView):
    """PostgreSQL view over the test tables."""

    tables = TABLES


# The official postgres image creates databases with en_US.utf8, whose text order is not
# code-point order; "en-US-x-icu" columns stand in for such a database here.
COLLATIONS = ["default", "en-US-x-icu"]


@pytest.fixture(scope="module", params=COLLATIONS)
def pg_view(request: pytest.FixtureRequest) -> Iterator[PostgresQueryView]:
    collation = request.param
    with pg_schema() as schema:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_collation WHERE collname = %s",
                                (collation,)).fetchone():
                pytest.skip(f"collation {collation} is not installed")
        factory, view = construct_view(PostgresQueryView, f"{PG_BASE}?schema={schema}")
        assert isinstance(view, PostgresQueryView)
        try:
            if collation != "default":
                collate(schema, collation)
            yield view
        finally:
            factory.close()


def collate(schema: str, collation: str) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        for table in TABLES:
            for column in table.columns:
                if column.kind is Kind.TEXT:
                    conn.execute(f'ALTER TABLE "{schema}".rm_{table.name} ALTER COLUMN '
                                 f'{column.name} TYPE text COLLATE "{collation}"')


@pytest.fixture(scope="module")
def sqlite_view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableView]:
    path = Path(tmp_path_factory.mktemp("query_sql")) / "views.sqlite3"
    factory, view = construct_view(SQLiteQueryView, f"sqlite:///{path}")
    yield view
    factory.close()


@pytest.fixture(scope="module")
def sql_views(pg_view: TableView, sqlite_view: TableView) -> list[TableView]:
    return [pg_view, sqlite_view]


@EXAMPLES
@given(query_scenarios())
def test_queries_agree_across_memory_sqlite_and_postgres(
    sql_views: list[TableView], scenario: tuple[Any, ...]
) -> None:
    check_queries([fresh_memory(), *sql_views], scenario)


@EXAMPLES
@given(change_scripts())
def test_changes_and_selects_agree_across_memory_sqlite_and_postgres(
    sql_views: list[TableView], script: tuple[Any, ...]
) -> None:
    check_changes(sql_views, script)


@settings(max_examples=30, deadline=None)
@given(datasets())
def test_get_by_key_agrees_across_memory_sqlite_and_postgres(
    sql_views: list[TableView], data: tuple[list[dict[str, Any]], ...]
) -> None:
    check_select_by_key([fresh_memory(), *sql_views], *data)


@pytest.fixture(scope="module")
def pg_async(pg_view: PostgresQueryView) -> PostgresQueryView:
    """The same tables, read also on the event loop (adapters/pg_async_reads.py)."""
    return PostgresQueryView(pg_view.datastore, read_pool_size=1,
                             tracking_table_name=pg_view.tracking_table_name)


@EXAMPLES
@given(query_scenarios())
def test_reads_on_the_event_loop_agree_with_the_threaded_ones(
    pg_async: PostgresQueryView, scenario: tuple[Any, ...]
) -> None:
    owners, items, queries = scenario
    load(pg_async, owners, items)
    beyond = [ListQuery(q.filters, q.order, q.page + 50, q.page_size) for q in queries]
    uncounted = [ListQuery(q.filters, q.order, q.page, q.page_size, count=False)
                 for q in queries]

    async def both() -> None:
        try:
            for query in [*queries, *beyond, *uncounted]:
                page, expected = (await pg_async.query_async(ITEMS.name, query),
                                  pg_async.query(ITEMS.name, query))
                assert canon(page.rows) == canon(expected.rows), query
                assert page.total == expected.total, query
            for item in items[:5]:
                where = {"id": item["id"]}
                assert canon(await pg_async.select_async(ITEMS.name, where)) == canon(
                    pg_async.select(ITEMS.name, where))
        finally:
            await pg_async.aclose()

    asyncio.run(both())


# --- named cases: each subtlety once, so a regression reads plainly ------------------------
def _item(key: str, name: str | None, **more: Any) -> dict[str, Any]:
    row = {"id": key, "name": name, "n": None, "flag": None, "at": None, "ref": None,
           "owner": None}
    return {**row, **more}


NAMES = ["a%c", "abc", "a_c", "aXc", "a\\c", "a[b]c", "a?c", "A%C", "b", "B", "é", "É", "", None]
CASES = [
    (Cond("name", "glob", "a%c"), ["a%c"]),
    (Cond("name", "glob", "a_c"), ["a_c"]),
    (Cond("name", "glob", "a\\c"), ["a\\c"]),
    (Cond("name", "glob", "a[b]c"), ["a[b]c"]),
    (Cond("name", "glob", "a?c"), ["a?c"]),
    (Cond("name", "glob", "a*c"), ["a%c", "a?c", "a[b]c", "a\\c", "a_c", "aXc", "abc"]),
    (Cond("name", "iglob", "a%c"), ["A%C", "a%c"]),
    (Cond("name", "iglob", "é"), ["é"]),
    (Cond("name", "iglob", "*"), [n for n in NAMES if n is not None]),
    (Cond("name", "ne", "b"), [n for n in NAMES if n not in (None, "b")]),
    (AnyOf(()), []),
    (AnyOf((Cond("name", "null"), Cond("name", "eq", "B"))), [None, "B"]),
]


@pytest.mark.parametrize(("item", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_escaping_and_case_folding(
    sql_views: list[TableView], item: Any, expected: list[str | None]
) -> None:
    items = [_item(f"k{i:02d}", n) for i, n in enumerate(NAMES)]
    for view in [fresh_memory(), *sql_views]:
        load(view, [], items)
        page = view.query(ITEMS.name, ListQuery((item,), page_size=100))
        assert sorted(r["name"] or "" for r in page.rows) == sorted(e or "" for e in expected)


def test_text_order_is_code_point_order(sql_views: list[TableView]) -> None:
    names = ["b", "B", "a", "A", "_", "%", "é", "É", "z", "😀", "", None]
    items = [_item(f"k{i:02d}", n) for i, n in enumerate(names)]
    for view in [fresh_memory(), *sql_views]:
        load(view, [], items)
        up = view.query(ITEMS.name, ListQuery(order=(Order("name"),), page_size=100)).rows
        down = view.query(ITEMS.name, ListQuery(order=(Order("name", True),), page_size=100)).rows
        present = sorted(n for n in names if n is not None)
        assert [r["name"] for r in up] == [*present, None]
        assert [r["name"] for r in down] == [None, *reversed(present)]


def test_times_before_the_year_1000_order_and_compare(sql_views: list[TableView]) -> None:
    moments = [datetime(999, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC),
               datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
    items = [_item(f"k{i}", None, at=m) for i, m in enumerate(moments)]
    for view in [fresh_memory(), *sql_views]:
        load(view, [], items)
        ordered = view.query(ITEMS.name, ListQuery(order=(Order("at"),))).rows
        assert [r["at"] for r in ordered] == sorted(moments)
        late = ListQuery((Cond("at", "gt", datetime(1000, 1, 1, tzinfo=UTC)),))
        assert view.query(ITEMS.name, late).total == 2


def test_named_changes_agree(sql_views: list[TableView]) -> None:
    """Patch/Increment on NULL, Delete with where, UpsertMax keeps the later time."""
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, 0, 0, 0, 1, tzinfo=UTC)
    owners = [{"num": n, "label": None, "score": s, "active": True, "seen_at": None, "token": None}
              for n, s in ((1, None), (2, 5), (3, 7))]
    items = [_item("x", "x", owner=1), _item("y", None, owner=2, n=1)]
    changes: list[Change] = [
        Increment(OWNERS.name, {}, "score", 2),  # NULL + 2 stays NULL
        Patch(OWNERS.name, {"label": None}, {"label": "was null"}),
        Patch(ITEMS.name, {"name": None}, {"flag": False}),
        UpsertMax(OWNERS.name, {**owners[0], "seen_at": late}, "seen_at"),
        UpsertMax(OWNERS.name, {**owners[0], "seen_at": early, "score": 99}, "seen_at"),
        UpsertMax(OWNERS.name, {**owners[1], "seen_at": early}, "seen_at"),
        Delete(OWNERS.name, {"num": 3, "score": 9}),
        Delete(ITEMS.name, {"owner": 9}),  # matches nothing
        Upsert(ITEMS.name, _item("z", "z", owner=3)),
    ]
    states = []
    for view in [fresh_memory(), *sql_views]:
        load(view, owners, items)
        view.apply_untracked(changes)
        states.append([canon(view.select(OWNERS.name, {})), canon(view.select(ITEMS.name, {}))])
        assert view.get(OWNERS.name, 1)["seen_at"] == late  # type: ignore[index]
        assert view.get(OWNERS.name, 1)["score"] is None  # type: ignore[index]
        assert view.get(OWNERS.name, 2)["seen_at"] == early  # type: ignore[index]
        assert view.get(OWNERS.name, 3) is None
        assert view.get(ITEMS.name, "z")["label"] is None  # type: ignore[index]
        assert view.get(ITEMS.name, "y")["flag"] is False  # type: ignore[index]
    assert states[1:] == states[:1] * len(sql_views)


def test_reset_between_examples_leaves_nothing(sql_views: list[TableView]) -> None:
    for view in sql_views:
        load(view, [], [])
        assert view.query(ITEMS.name, ListQuery()).total == 0
        assert view.select(OWNERS.name, {}) == []
