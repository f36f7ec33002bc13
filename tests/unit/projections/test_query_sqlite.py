"""The SQLite view agrees with the Python semantics (and the memory view) on queries and changes.

The tables, strategies and checks here are shared with tests/integration/test_query_sql.py,
which adds PostgreSQL to the comparison.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.utils import Environment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory_views import MemoryTableView
from adapters.sqlite_views import SQLiteTableView
from entrypoints.settings import Settings
from projections.model import (
    Change,
    Column,
    Delete,
    Increment,
    Join,
    Kind,
    Patch,
    Table,
    Upsert,
    UpsertMax,
)
from projections.query import OPS, AnyOf, Cond, Filter, ListQuery, Order, run
from projections.view import TableView

TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


def cols(*spec: tuple[str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(n, k) for n, k in spec)


# A text key (collation matters for the tie-break) joined on an int to an int-keyed side table.
OWNERS = Table("q_owners", "num", cols(("num", INT), ("label", TXT), ("score", INT),
                                       ("active", BOOL), ("seen_at", TIME), ("token", UID)))
ITEMS = Table(
    "q_items", "id",
    cols(("id", TXT), ("name", TXT), ("n", INT), ("flag", BOOL), ("at", TIME), ("ref", UID),
         ("owner", INT)),
    indexes=("name", "at"),
    joins=(Join(OWNERS.name, "owner", "num", tuple(c for c in OWNERS.columns if c.name != "num")),),
)
TABLES = (OWNERS, ITEMS)
APP = "q"


class SQLiteQueryView(SQLiteTableView):
    """SQLite view over the test tables."""

    tables = TABLES


def construct_view(view_class: type[TableView], url: str) -> tuple[Any, TableView]:
    """The factory (to close) and the view, built the way entrypoints/bootstrap.py does it."""
    env = Settings.from_env({"DATABASE_URL": url, "API_KEY": "k"}).persistence_env(APP)
    factory: Any = InfrastructureFactory.construct(env=Environment(APP, env))
    return factory, factory.tracking_recorder(view_class)


# --- values ----------------------------------------------------------------------------------
CHARS = [*"aAbBzZ %_[]?\\*^-", "é", "É", "ß", "😀"]
TEXTS = st.text(alphabet=st.sampled_from(CHARS), max_size=5)
TIME_POOL = [
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(999, 6, 1, 12, tzinfo=UTC),  # years before 1000 must still sort and compare
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
UTC_TIMES = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
    timezones=st.just(UTC),
)
UUID_POOL = [UUID(int=0), UUID(int=1), UUID(int=2**127),
             UUID("ffffffff-0000-4000-8000-000000000001")]
INT64 = st.integers(-(2**63), 2**63 - 1)
SMALL_INTS = st.integers(-3, 3)


def values(kind: Kind, small: bool = False) -> st.SearchStrategy[Any]:
    if kind is TXT:
        return TEXTS
    if kind is INT:
        return SMALL_INTS if small else SMALL_INTS | INT64
    if kind is BOOL:
        return st.booleans()
    if kind is TIME:
        return st.sampled_from(TIME_POOL) | UTC_TIMES
    return st.sampled_from(UUID_POOL) | st.uuids()


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """NULL a quarter of the time: often enough to matter, rarely enough to leave values."""
    return st.one_of(st.none(), strategy, strategy, strategy)


def filter_times() -> st.SearchStrategy[datetime]:
    """Query values may carry any offset; they mean the same instant."""

    def shift(moment: datetime, hours: int) -> datetime:
        try:
            return moment.astimezone(timezone(timedelta(hours=hours)))
        except OverflowError:
            return moment

    return st.builds(shift, values(TIME), st.integers(-12, 12))


# --- data sets -------------------------------------------------------------------------------
@st.composite
def datasets(draw: st.DrawFn, small: bool = False) -> tuple[list[dict[str, Any]], ...]:
    """Owners and items; item.owner points at an owner, at nothing, or is NULL."""

    def row(table: Table, key: Any, **fixed: Any) -> dict[str, Any]:
        out = {table.key: key}
        for c in table.columns:
            if c.name not in out:
                out[c.name] = fixed[c.name] if c.name in fixed else draw(
                    nullable(values(c.kind, small)))
        return out

    nums = list(dict.fromkeys(draw(st.lists(SMALL_INTS | st.integers(-100, 100), max_size=5))))
    owners = [row(OWNERS, n) for n in nums]
    ids = list(dict.fromkeys(draw(st.lists(TEXTS, min_size=draw(st.sampled_from([0, 3, 3])),
                                                max_size=12))))  # unique, no rejections
    known = st.sampled_from(nums) if nums else st.none()
    owner_refs = st.one_of(st.none(), st.integers(-100, 100), known, known)
    items = [row(ITEMS, i, owner=draw(owner_refs)) for i in ids]
    return owners, items


def joined(owners: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a LEFT JOIN of items to owners reads as, computed without any view."""
    by_num = {o["num"]: o for o in owners}
    names = [c.name for c in ITEMS.joins[0].columns]
    return [{**i, **{n: by_num.get(i["owner"], {}).get(n) for n in names}} for i in items]


# --- queries ---------------------------------------------------------------------------------
@st.composite
def patterns(draw: st.DrawFn, seen: list[str]) -> str:
    """A `*` pattern, mostly cut from a value that is there (so it can match), case swapped."""
    if not seen or draw(st.integers(0, 3)) == 0:
        return draw(st.text(alphabet=st.sampled_from([*CHARS, "*", "*"]), max_size=5))
    out = draw(st.sampled_from(seen))
    for _ in range(draw(st.integers(0, 2))):  # each star stands in for a slice of the value
        i = draw(st.integers(0, len(out)))
        j = draw(st.integers(i, len(out)))
        out = out[:i] + "*" + out[j:]
    if draw(st.booleans()):
        out = "".join(c.swapcase() if c.isascii() and draw(st.booleans()) else c for c in out)
    if out and draw(st.integers(0, 3)) == 0:  # a near miss
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + draw(st.sampled_from(CHARS)) + out[i + 1:]
    return out


@st.composite
def conditions(draw: st.DrawFn, rows: list[dict[str, Any]]) -> Cond:
    text_columns = [c for c in ITEMS.all_columns() if c.kind is TXT]
    column = draw(st.sampled_from(text_columns) | st.sampled_from(ITEMS.all_columns()))
    kind = column.kind
    ops = [*OPS, "glob", "iglob"] if kind is TXT else [o for o in OPS if o not in ("glob", "iglob")]
    op = draw(st.sampled_from(ops))
    if op in ("null", "notnull"):
        return Cond(column.name, op)
    seen = [r[column.name] for r in rows if r[column.name] is not None]
    if op in ("glob", "iglob"):
        return Cond(column.name, op, draw(patterns(seen)))
    fresh = filter_times() if kind is TIME else values(kind)
    value = draw(st.sampled_from(seen) | fresh) if seen else draw(fresh)
    return Cond(column.name, op, value)


@st.composite
def list_queries(draw: st.DrawFn, rows: list[dict[str, Any]]) -> ListQuery:
    def one() -> Filter:
        if draw(st.integers(0, 3)) == 0:
            return AnyOf(tuple(draw(st.lists(conditions(rows), max_size=3))))
        return draw(conditions(rows))

    filters = tuple(one() for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))))
    names = [c.name for c in ITEMS.all_columns()]
    order = draw(st.lists(st.builds(Order, st.sampled_from(names), st.booleans()), max_size=3))
    page, size = draw(st.sampled_from([1, 1, 1, 2, 3])), draw(st.sampled_from([1, 2, 3, 5, 100]))
    return ListQuery(filters, tuple(order), page, size)


@st.composite
def query_scenarios(draw: st.DrawFn) -> tuple[Any, ...]:
    owners, items = draw(datasets())
    rows = joined(owners, items)
    return owners, items, [draw(list_queries(rows)) for _ in range(5)]


# --- changes ---------------------------------------------------------------------------------
@st.composite
def change_scripts(draw: st.DrawFn) -> tuple[Any, ...]:
    """A data set, then changes whose `where`s often hit existing values (NULL included)."""
    owners, items = draw(datasets(small=True))
    existing = {OWNERS.name: owners, ITEMS.name: items}

    def pick(table: Table, column: Column) -> Any:
        seen = [r[column.name] for r in existing[table.name]]
        fresh = st.none() | values(column.kind, small=True)
        return draw(st.sampled_from(seen) | fresh) if seen else draw(fresh)

    def where(table: Table) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(table.columns), unique=True, max_size=2))
        return {c.name: pick(table, c) for c in chosen}

    def new_row(table: Table) -> dict[str, Any]:
        key_column = next(c for c in table.columns if c.name == table.key)
        row = {table.key: pick(table, key_column)}
        if row[table.key] is None:
            row[table.key] = draw(values(key_column.kind, small=True))
        row.update({c.name: draw(st.none() | values(c.kind, small=True))
                    for c in table.columns if c.name != table.key})
        return row

    changes: list[Change] = []
    for _ in range(draw(st.integers(0, 8))):
        table = draw(st.sampled_from(TABLES))
        time_col, int_col = ("seen_at", "score") if table is OWNERS else ("at", "n")
        op = draw(st.sampled_from(["upsert", "upsert_max", "patch", "increment", "delete"]))
        if op == "upsert":
            changes.append(Upsert(table.name, new_row(table)))
        elif op == "upsert_max":
            row = new_row(table)
            row[time_col] = draw(values(TIME))
            changes.append(UpsertMax(table.name, row, time_col))
        elif op == "patch":
            settable = [c for c in table.columns if c.name != table.key]
            fields = draw(st.lists(st.sampled_from(settable), unique=True, min_size=1, max_size=3))
            changes.append(Patch(table.name, where(table),
                                 {c.name: draw(st.none() | values(c.kind, True)) for c in fields}))
        elif op == "increment":
            changes.append(Increment(table.name, where(table), int_col, draw(SMALL_INTS)))
        else:
            changes.append(Delete(table.name, where(table)))
    probes = [(t.name, where(t)) for t in TABLES for _ in range(2)]
    return owners, items, changes, probes


# --- comparing -------------------------------------------------------------------------------
def canon(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with value types made visible: True must not pass for 1, nor a naive time for UTC."""

    def one(v: Any) -> Any:
        return (type(v).__name__, v, v.utcoffset() if isinstance(v, datetime) else None)

    return [{k: one(v) for k, v in sorted(r.items())} for r in rows]


def load(view: TableView, owners: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    view.apply_untracked([Delete(ITEMS.name), Delete(OWNERS.name)])
    view.apply_untracked([*(Upsert(OWNERS.name, o) for o in owners),
                          *(Upsert(ITEMS.name, i) for i in items)])


def fresh_memory() -> MemoryTableView:
    return MemoryTableView(TABLES)


def check_queries(views: Sequence[TableView], scenario: tuple[Any, ...]) -> None:
    owners, items, queries = scenario
    for view in views:
        load(view, owners, items)
    rows = joined(owners, items)
    # Each query's order also runs over the whole table: filters often leave too few rows.
    for query in [*queries, *(ListQuery(order=q.order, page_size=100) for q in queries)]:
        expected = run(ITEMS, rows, query)
        for view in views:
            page = view.query(ITEMS.name, query)
            assert canon(page.rows) == canon(expected.rows), (type(view).__name__, query)
            assert page.total == expected.total, (type(view).__name__, query)


def state(view: TableView, probes: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    everything = ListQuery(page_size=10_000)
    return [
        canon(view.select(OWNERS.name, {})),
        canon(view.select(ITEMS.name, {})),
        canon(view.query(ITEMS.name, everything).rows),
        canon(view.query(OWNERS.name, everything).rows),
        *(canon(view.select(table, where)) for table, where in probes),
    ]


def check_changes(views: Sequence[TableView], script: tuple[Any, ...]) -> None:
    """The memory view is the reference; changes go through the tracked path."""
    owners, items, changes, probes = script
    reference = fresh_memory()
    for view in (reference, *views):
        view.reset(APP)
        load(view, owners, items)
        view.apply([([c], Tracking(APP, i + 1)) for i, c in enumerate(changes)])
    expected = state(reference, probes)
    for view in views:
        assert state(view, probes) == expected, type(view).__name__


def check_select_by_key(views: Sequence[TableView], owners: list[dict[str, Any]],
                        items: list[dict[str, Any]]) -> None:
    for view in views:
        load(view, owners, items)
    rows = joined(owners, items)
    for view in views:
        for row in rows:
            assert canon([view.get(ITEMS.name, row["id"]) or {}]) == canon([row])
        assert view.get(ITEMS.name, "no such id") is None


EXAMPLES = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- the SQLite tests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableView]:
    path = Path(tmp_path_factory.mktemp("query")) / "views.sqlite3"
    factory, view = construct_view(SQLiteQueryView, f"sqlite:///{path}")
    yield view
    factory.close()


@EXAMPLES
@given(query_scenarios())
def test_sqlite_and_memory_queries_agree_with_run(
    sqlite_view: TableView, scenario: tuple[Any, ...]
) -> None:
    check_queries([fresh_memory(), sqlite_view], scenario)


@EXAMPLES
@given(change_scripts())
def test_sqlite_changes_and_selects_agree_with_memory(
    sqlite_view: TableView, script: tuple[Any, ...]
) -> None:
    check_changes([sqlite_view], script)


@settings(max_examples=30, deadline=None)
@given(datasets())
def test_sqlite_get_by_key_agrees(
    sqlite_view: TableView, data: tuple[list[dict[str, Any]], ...]
) -> None:
    check_select_by_key([fresh_memory(), sqlite_view], *data)
