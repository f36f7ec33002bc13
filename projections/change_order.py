"""The order a large batch's changes are written in, and the changes folded together, so that
like statements stand together (a replay writes each group as one multi-row statement).

A batch is applied in one transaction, so no reader sees the order its changes are written in,
only the end state. A projection emits them event by event: a node registered, then patched,
then its cluster counted, then the next node. Written in that order, no two neighbours share a
statement.

`in_rounds` reorders without changing the end state. Tables never touch each other's rows, and
within a table a change that names its row by the key (an upsert, or a patch/increment/delete
whose `where` holds the key) commutes with every change to another row: the read-model tables
have no triggers, foreign keys or unique columns beside the key. Each row keeps its own chain of
changes, in order; round n holds the n-th change of every chain, grouped by shape. A change that
may touch several rows (a patch by cluster, a delete of everything) is a barrier in its table:
what came before it there is written first, then it, then what follows.

Within a chain, a change folds into the one before it when the pair has the same effect as one:
a patch into the upsert or patch before it, increments into one sum, a delete of the row
replaces the whole chain (a delete that keeps a row touched later joins it instead). A row
registered, flapped twice and counted becomes one insert.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from projections.model import Change, Delete, Increment, Patch, Table, Upsert, UpsertMax

# How a key value names its row in the store (None: it cannot tell, so the change is a barrier).
Identity = Callable[[Table, Any], Hashable | None]
Part = dict[Hashable, list[Change]] | Change


def same_value(_table: Table, value: Any) -> Hashable | None:
    """Rows keyed by Python equality (the memory view)."""
    return value  # type: ignore[no-any-return]


def in_rounds(
    changes: Iterable[Change], table: Callable[[str], Table], identity: Identity = same_value
) -> list[list[Change]]:
    """The changes as groups of one shape, in an order with the same end state."""
    parts: dict[str, list[Part]] = {}
    for change in changes:
        spec = table(change.table)
        log = parts.get(change.table)
        if log is None:
            log = parts[change.table] = []
        row = _row(change, spec, identity)
        if row is None:
            log.append(change)
            continue
        if not log or not isinstance(log[-1], dict):
            log.append({})
        segment = log[-1]
        assert isinstance(segment, dict)
        chain = segment.get(row)
        if chain is None:
            segment[row] = [change]
        elif isinstance(change, Delete) and len(change.where) == 1 and change.column is None:
            segment[row] = [change]  # whatever the row went through, it is gone
        else:
            folded = _fold(chain[-1], change, spec.key)
            if folded is None:
                chain.append(change)
            else:
                chain[-1] = folded
    out: list[list[Change]] = []
    for log in parts.values():
        for part in log:
            if isinstance(part, dict):
                out += _rounds(part)
            else:
                out.append([part])
    return out


def _row(change: Change, spec: Table, identity: Identity) -> Hashable | None:
    """Which row the change can touch, or None when it may touch several (or move one)."""
    key = spec.key
    if isinstance(change, Upsert | UpsertMax):
        if len(change.row) < 2:
            return None  # and fails; it stays where it is, to fail there as it would
        value = change.row.get(key)
    else:
        value = change.where.get(key)
        if isinstance(change, Patch) and (key in change.fields or not change.fields):
            return None  # moves the row to another key, or fails (SQL sets nothing)
        if isinstance(change, Increment) and change.column == key:
            return None
    return None if value is None else identity(spec, value)


def _rounds(segment: dict[Hashable, list[Change]]) -> list[list[Change]]:
    out: list[list[Change]] = []
    depth = max(len(chain) for chain in segment.values())
    for n in range(depth):
        groups: dict[tuple[Any, ...], list[Change]] = {}
        for chain in segment.values():
            if len(chain) > n:
                change = chain[n]
                shape = shape_of(change)
                group = groups.get(shape)
                if group is None:
                    groups[shape] = [change]
                else:
                    group.append(change)
        out += groups.values()
    return out


def shape_of(change: Change) -> tuple[Any, ...]:
    """What decides a change's statement: its kind, table and columns (and which `where`
    values are None, since those read IS NULL)."""
    if isinstance(change, Upsert):
        return (Upsert, change.table, *change.row)
    if isinstance(change, UpsertMax):
        return (UpsertMax, change.table, change.column, *change.row)
    where = tuple((c, v is None) for c, v in change.where.items())
    if isinstance(change, Patch):
        return (Patch, change.table, where, *change.fields)
    if isinstance(change, Increment):
        return (Increment, change.table, where, change.column)
    return (Delete, change.table, where, change.column)


def _same_key(a: dict[str, Any], b: dict[str, Any], key: str) -> bool:
    x, y = a.get(key), b.get(key)
    return type(x) is type(y) and x == y


def _simple(change: Patch | Increment, key: str) -> bool:
    return len(change.where) == 1 and key in change.where


def _fold(before: Change, change: Change, key: str) -> Change | None:
    """One change with the effect of `before` then `change` on their row, or None."""
    if type(before) is Upsert:
        if type(change) is Upsert and _same_key(before.row, change.row, key):
            return Upsert(before.table, {**before.row, **change.row})
        if (type(change) is Patch and _simple(change, key)
                and _same_key(before.row, change.where, key)):
            return Upsert(before.table, {**before.row, **change.fields})
        if type(change) is Increment and _simple(change, key) and _same_key(
                before.row, change.where, key) and _counts(before.row, change):
            return Upsert(before.table, _added(before.row, change))
        return None
    if type(before) is Patch and _simple(before, key):
        if (type(change) is Patch and _simple(change, key)
                and _same_key(before.where, change.where, key)):
            return Patch(before.table, before.where, {**before.fields, **change.fields})
        if type(change) is Increment and _simple(change, key) and _same_key(
                before.where, change.where, key) and _counts(before.fields, change):
            return Patch(before.table, before.where, _added(before.fields, change))
        return None
    if (type(before) is Increment and type(change) is Increment and _simple(before, key)
            and _simple(change, key) and before.column == change.column
            and _same_key(before.where, change.where, key)
            and type(before.delta) is int and type(change.delta) is int):
        return Increment(before.table, before.where, before.column, before.delta + change.delta)
    return None


def _counts(values: dict[str, Any], change: Increment) -> bool:
    """The column is set to a plain integer (or NULL, which an increment keeps NULL)."""
    value = values.get(change.column, False)
    return type(change.delta) is int and (value is None or type(value) is int)


def _added(values: dict[str, Any], change: Increment) -> dict[str, Any]:
    current = values[change.column]
    return {**values, change.column: None if current is None else current + change.delta}
