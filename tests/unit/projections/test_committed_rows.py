"""The rows a batch's changes determine (projections.committed) are the rows a view holds after
applying them: here the memory view, PostgreSQL and SQLite in
tests/integration/test_committed_rows_sql."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from adapters.memory_views import MemoryTableView
from projections.committed import rows_left
from projections.fleet_tables import FLEET_TABLES, NodeRecord
from projections.model import Change, Increment, Join, Kind, Patch, Table, Upsert, cols
from projections.records import Records
from projections.view import TableView
from tests.unit.projections.test_change_order import (
    EVENTS,
    ROW_EVENTS,
    TABLES,
    THINGS,
    outcome,
)


def as_given(kind: Kind, value: Any) -> Any:
    return value


def known_rows_agree(view: TableView, setup: list[list[Change]], events: list[list[Change]],
                     stored: Any = as_given) -> int:
    """Asserts every row `rows_left` claims is the view's row; answers how many it knew."""
    if isinstance(outcome(view, setup, events, False), str):
        return 0  # the batch failed: nothing committed, nothing to answer from
    known = rows_left({t.name: t for t in TABLES}, [c for e in events for c in e], stored)
    for (table, key), row in known.items():
        key_column = next(t.key for t in TABLES if t.name == table)
        assert view.select(table, {key_column: key}) == [row]
    return len(known)


class MemoryView(MemoryTableView):
    def __init__(self) -> None:
        super().__init__(TABLES)


@settings(max_examples=400, deadline=None)
@given(ROW_EVENTS, EVENTS | ROW_EVENTS)
def test_known_rows_are_the_rows_in_memory(setup: list[list[Change]],
                                           events: list[list[Change]]) -> None:
    known_rows_agree(MemoryView(), setup, events)


FULL = {"n": 1, "s": "x", "g": None, "flag": True, "at": None}


def test_a_row_written_whole_then_patched_and_counted_by_key_is_known() -> None:
    changes: list[Change] = [Upsert(THINGS.name, {"id": "a", **FULL}),
                             Patch(THINGS.name, {"id": "a"}, {"s": "y"}),
                             Increment(THINGS.name, {"id": "a"}, "n", 2)]
    known = rows_left({t.name: t for t in TABLES}, changes, as_given)
    assert known == {(THINGS.name, "a"): {"id": "a", **FULL, "s": "y", "n": 3}}


def test_partial_upserts_and_other_rows_changes_are_not_known() -> None:
    tables = {t.name: t for t in TABLES}
    partial = Upsert(THINGS.name, {"id": "a", "n": 1})
    assert rows_left(tables, [partial], as_given) == {}
    # A patch by another column may touch the row: nothing of that table is known.
    whole = Upsert(THINGS.name, {"id": "a", **FULL})
    assert rows_left(tables, [whole, Patch(THINGS.name, {"g": None}, {"n": 5})],
                     as_given) == {}



def test_a_joined_table_s_row_holds_its_own_columns_and_makes_no_record() -> None:
    """The columns a join brings are no change's: a known row holds the table's own, and
    Records reads it as no record (the answer is then read back)."""
    joined = Table("j_things", "id", cols(("id", Kind.TEXT)),
                   joins=(Join("o_others", "id", "k", cols(("n", Kind.INT))),))
    known = rows_left({"j_things": joined}, [Upsert("j_things", {"id": "a"})], as_given)
    assert known == {("j_things", "a"): {"id": "a"}}
    nodes = Records(MemoryTableView(FLEET_TABLES), NodeRecord)
    assert nodes.of_row({"id": "a"}) is None
