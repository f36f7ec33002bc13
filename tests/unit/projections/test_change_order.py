"""Reordered and folded changes (projections.change_order) leave a view as the original order
does; the memory view here, SQLite and PostgreSQL in tests/integration/test_change_order_sql."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import Tracking
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.memory_views import MemoryTableView
from projections.change_order import in_rounds
from projections.model import (
    Change,
    Delete,
    Increment,
    Kind,
    Patch,
    Table,
    Upsert,
    UpsertMax,
    cols,
)
from projections.view import TableView

APP = "order"
THINGS = Table("o_things", "id", cols(
    ("id", Kind.TEXT), ("n", Kind.INT), ("s", Kind.TEXT), ("g", Kind.TEXT),
    ("flag", Kind.BOOL), ("at", Kind.TIME)), indexes=("g",))
OTHERS = Table("o_others", "k", cols(("k", Kind.TEXT), ("n", Kind.INT)))
TABLES = (THINGS, OTHERS)

KEYS = st.sampled_from("abcdefgh")
TEXTS = st.none() | st.sampled_from(["x", "y", "z\x00", "é"])
INTS = st.none() | st.integers(-5, 5)
TIMES = st.none() | st.integers(0, 3).map(
    lambda n: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n))
VALUES = {"n": INTS, "s": TEXTS, "g": TEXTS, "flag": st.none() | st.booleans(), "at": TIMES}
# A few column sets, so that like changes meet in one group (one statement on PostgreSQL).
FIELDS = st.sampled_from([(), ("n",), ("s", "g"), ("flag", "at"), ("n", "s", "g", "flag", "at")]
                         ).flatmap(lambda names: st.fixed_dictionaries(
                             {name: VALUES[name] for name in names}))


def _upsert(key: str, fields: dict[str, Any]) -> Change:
    return Upsert(THINGS.name, {"id": key, **fields})


ROW_CHANGES = st.one_of(  # each names its row by key: they gather in rounds and groups
    st.builds(_upsert, KEYS, FIELDS),
    st.builds(lambda k, t: UpsertMax(THINGS.name, {"id": k, "at": t}, "at"), KEYS, TIMES),
    st.builds(lambda k, f: Patch(THINGS.name, {"id": k}, f), KEYS, FIELDS),
    st.builds(lambda k, g, f: Patch(THINGS.name, {"id": k, "g": g}, f), KEYS, TEXTS, FIELDS),
    st.builds(lambda k, d: Increment(THINGS.name, {"id": k}, "n", d), KEYS, st.integers(-3, 3)),
    st.builds(lambda k: Delete(THINGS.name, {"id": k}), KEYS),
    st.builds(lambda k, t: Delete(THINGS.name, {"id": k}, "at", t), KEYS, TIMES),
    st.builds(lambda k, n: Upsert(OTHERS.name, {"k": k, "n": n}), KEYS, INTS),
    st.builds(lambda k, d: Increment(OTHERS.name, {"k": k}, "n", d), KEYS, st.integers(-3, 3)),
)
BARRIERS = st.one_of(  # may touch several rows
    st.builds(lambda g, f: Patch(THINGS.name, {"g": g}, f), TEXTS, FIELDS),
    st.builds(lambda g, d: Increment(THINGS.name, {"g": g}, "n", d), TEXTS, st.integers(-3, 3)),
    st.builds(lambda g: Delete(THINGS.name, {"g": g}), TEXTS),
    st.builds(lambda g, t: Delete(THINGS.name, {"g": g}, "at", t), TEXTS, TIMES),
    st.just(Delete(THINGS.name, {})),
)
CHANGES = ROW_CHANGES | BARRIERS
EVENTS = st.lists(st.lists(CHANGES, max_size=4), min_size=1, max_size=25)
ROW_EVENTS = st.lists(st.lists(ROW_CHANGES, max_size=4), min_size=1, max_size=40)


def rows(view: TableView) -> dict[str, list[dict[str, Any]]]:
    return {t.name: view.select(t.name, {}) for t in TABLES}


def outcome(view: TableView, setup: list[list[Change]], events: list[list[Change]],
            bulk: bool) -> Any:
    """The view's rows after `events` (as one batch) applied over what `setup` left (applied
    the usual way), or the failure's type."""
    view.reset(APP)
    try:
        view.apply([(changes, Tracking(APP, i + 1)) for i, changes in enumerate(setup)])
    except Exception:  # noqa: BLE001 - then from empty tables
        view.reset(APP)
    start = len(setup)
    batch = [(changes, Tracking(APP, start + i + 1)) for i, changes in enumerate(events)]
    try:
        (view.apply_bulk if bulk else view.apply)(batch)
    except Exception as exc:  # noqa: BLE001 - both orders must fail alike
        return type(exc).__name__
    return rows(view)


def same_end_state(view: TableView, setup: list[list[Change]], events: list[list[Change]]
                   ) -> None:
    assert outcome(view, setup, events, True) == outcome(view, setup, events, False)


class MemoryView(MemoryTableView):
    def __init__(self) -> None:
        super().__init__(TABLES)


@settings(max_examples=300, deadline=None)
@given(ROW_EVENTS, EVENTS | ROW_EVENTS)
@example([[]], [[_upsert("a", {"flag": None, "at": datetime(2026, 1, 1, tzinfo=UTC)}),
                 UpsertMax(THINGS.name, {"id": "a", "at": None}, "at"),
                 Delete(THINGS.name, {"id": "a"})]])  # a NULL UpsertMax over a time: no winner
def test_reordered_changes_end_alike_in_memory(setup: list[list[Change]],
                                               events: list[list[Change]]) -> None:
    same_end_state(MemoryView(), setup, events)


@given(EVENTS)
def test_each_row_keeps_its_order(events: list[list[Change]]) -> None:
    """Folding aside, every change of the input is in the output, each table's barriers
    in their places: nothing is lost or invented."""
    groups = in_rounds([c for e in events for c in e], {t.name: t for t in TABLES}.__getitem__)
    out = [c for g in groups for c in g]
    assert len(out) <= sum(map(len, events))
    for group in groups:
        assert len({type(c) for c in group}) == 1


def test_a_node_registered_flapped_and_counted_is_one_row_each() -> None:
    """The replay benchmark's shape: per node a count, an insert and two patches."""
    changes: list[Change] = []
    for key in "abc":
        changes += [Increment(OTHERS.name, {"k": "cluster"}, "n", 1),
                    Upsert(THINGS.name, {"id": key, "s": "healthy", "n": 0}),
                    Patch(THINGS.name, {"id": key}, {"s": "unhealthy"}),
                    Patch(THINGS.name, {"id": key}, {"s": "healthy", "g": "x"})]
    groups = in_rounds(changes, {t.name: t for t in TABLES}.__getitem__)
    assert groups == [
        [Increment(OTHERS.name, {"k": "cluster"}, "n", 3)],
        [Upsert(THINGS.name, {"id": k, "s": "healthy", "n": 0, "g": "x"}) for k in "abc"],
    ]
