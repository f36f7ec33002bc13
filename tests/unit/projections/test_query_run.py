"""Properties of `run`, the reference semantics of filtering, ordering and paging."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.model import Column, Kind, Table
from projections.query import OPS, AnyOf, Cond, ListQuery, Order, matches, run

TABLE = Table(
    "things", "id",
    (Column("id", Kind.INT), Column("name", Kind.TEXT), Column("n", Kind.INT),
     Column("flag", Kind.BOOL), Column("at", Kind.TIME)),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(alphabet="aAbB*%", max_size=3),
    "n": st.integers(-2, 2),
    "flag": st.booleans(),
    "at": st.sampled_from([datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]),
}
ORDERABLE = ("id", *VALUES)


@st.composite
def table_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(st.integers(-50, 50), unique=True, max_size=15))
    return [
        {"id": i, **{c: draw(st.none() | strategy) for c, strategy in VALUES.items()}}
        for i in ids
    ]


@st.composite
def conds(draw: st.DrawFn) -> Cond:
    column = draw(st.sampled_from(list(VALUES)))
    ops = [o for o in OPS if column == "name" or o not in ("glob", "iglob")]
    op = draw(st.sampled_from(ops))
    return Cond(column, op, None if op in ("null", "notnull") else draw(VALUES[column]))


FILTERS = st.lists(conds() | st.builds(AnyOf, st.lists(conds(), max_size=3).map(tuple)), max_size=3)
ORDERS = st.lists(st.builds(Order, st.sampled_from(ORDERABLE), st.booleans()), max_size=3)


def everything(filters: list[Any], order: list[Order]) -> ListQuery:
    return ListQuery(tuple(filters), tuple(order), page=1, page_size=10_000)


def oracle_order(rows: list[dict[str, Any]], order: list[Order]) -> list[dict[str, Any]]:
    """Independent ordering: stable sorts from the last key to the first, key first of all."""
    out = sorted(rows, key=lambda r: r["id"])
    for o in reversed(order):
        present = [r for r in out if r[o.column] is not None]
        nulls = [r for r in out if r[o.column] is None]
        present.sort(key=lambda r: r[o.column], reverse=o.descending)
        out = nulls + present if o.descending else present + nulls
    return out


@given(table_rows(), FILTERS, ORDERS, st.integers(1, 7))
def test_pages_partition_the_filtered_rows(
    rows: list[dict[str, Any]], filters: list[Any], order: list[Order], size: int
) -> None:
    whole = run(TABLE, rows, everything(filters, order))
    pages = math.ceil(whole.total / size)
    seen: list[dict[str, Any]] = []
    for number in range(1, pages + 2):
        page = run(TABLE, rows, ListQuery(tuple(filters), tuple(order), number, size))
        assert page.total == whole.total
        assert 0 < len(page.rows) <= size if number <= pages else page.rows == []
        seen += page.rows
    assert seen == whole.rows
    assert len({r["id"] for r in seen}) == len(seen)


@given(table_rows(), FILTERS)
def test_total_counts_every_row_that_passes_every_filter(
    rows: list[dict[str, Any]], filters: list[Any]
) -> None:
    page = run(TABLE, rows, ListQuery(tuple(filters), page=1, page_size=1))
    assert page.total == sum(all(matches(r, f) for f in filters) for r in rows)


@given(table_rows(), ORDERS, st.randoms(use_true_random=False))
def test_order_is_total_and_independent_of_input_order(
    rows: list[dict[str, Any]], order: list[Order], random: Any
) -> None:
    query = everything([], order)
    expected = oracle_order(rows, order)
    assert run(TABLE, rows, query).rows == expected
    shuffled = list(rows)
    random.shuffle(shuffled)
    assert run(TABLE, shuffled, query).rows == expected


@given(table_rows(), st.sampled_from(list(VALUES)), st.booleans())
def test_ties_are_broken_by_key_ascending_and_nulls_sit_at_the_far_end(
    rows: list[dict[str, Any]], column: str, descending: bool
) -> None:
    out = run(TABLE, rows, everything([], [Order(column, descending)])).rows
    values = [r[column] for r in out]
    nulls = [v is None for v in values]
    assert nulls == sorted(nulls, reverse=descending)  # NULLs last asc, first desc
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=descending)
    for a, b in itertools.pairwise(out):
        if a[column] == b[column]:
            assert a["id"] < b["id"]


@given(table_rows())
def test_default_order_is_the_key(rows: list[dict[str, Any]]) -> None:
    assert [r["id"] for r in run(TABLE, rows, everything([], [])).rows] == sorted(
        r["id"] for r in rows
    )


@given(st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge", "glob", "iglob"]), st.text(max_size=2))
def test_null_never_matches_a_comparison(op: str, value: str) -> None:
    assert not matches({"name": None}, Cond("name", op, value))
    assert matches({"name": None}, Cond("name", "null"))
    assert not matches({"name": None}, Cond("name", "notnull"))


@given(table_rows(), st.lists(conds(), max_size=3))
def test_any_of_is_or_and_empty_any_of_matches_nothing(
    rows: list[dict[str, Any]], items: list[Cond]
) -> None:
    for row in rows:
        assert matches(row, AnyOf(tuple(items))) == any(matches(row, c) for c in items)
        assert not matches(row, AnyOf(()))
