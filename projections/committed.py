"""The rows a batch of read-model changes leaves, where the changes alone tell them.

A write answered with the object it made (`POST /api/v1/commands`' 201) used to read that row
back once its commit was done: one more round trip, and about a third of a command's CPU in the
serve process and PostgreSQL together (bench/PROFILE.md, "The answer from the commit"). Where
the read-model changes go in the events' own transaction, the changes say what the row holds
at that commit, so the answer can be rendered from them through the same record and render as a
read.

Only what the changes determine is known: a row the batch wrote whole (an Upsert naming every
column), then changed only through its key. A table the batch changed any other way (a Patch,
Increment or Delete by other columns, an UpsertMax) may have had any of its rows touched, so
none of its rows is known: the answer is read back as before. A known row holds the table's own
columns; those a join brings from another table are not known (Records.of_row reads such a
row as no record). `stored` turns a value into what the database gives back for it (PostgreSQL
keeps U+FFFD for U+0000, and answers times in UTC), so a known row equals the row read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from projections.model import Change, Delete, Increment, Kind, Patch, Table, Upsert

Rows = dict[tuple[str, Any], dict[str, Any]]


def rows_left(tables: Mapping[str, Table], changes: Iterable[Change],
              stored: Callable[[Kind, Any], Any]) -> Rows:
    """{(table, key): row} for every row `changes` determine once all are applied in order."""
    rows: Rows = {}
    unknown: set[str] = set()
    for change in changes:
        table = tables.get(change.table)
        if table is None or change.table in unknown:
            continue
        key = table.key
        if type(change) is Upsert:
            if len(change.row) == len(table.columns) and all(
                    c.name in change.row for c in table.columns):
                rows[(table.name, change.row[key])] = {
                    c.name: stored(c.kind, change.row[c.name]) for c in table.columns}
            else:  # a partial upsert keeps columns of a row we may not know
                rows.pop((table.name, change.row.get(key)), None)
        elif isinstance(change, Patch | Increment | Delete) and _by_key(change, key):
            found = (table.name, change.where[key])
            row = rows.get(found)
            if row is None:
                continue
            if isinstance(change, Patch) and key not in change.fields:
                row.update({c: stored(table.kind_of(c), v) for c, v in change.fields.items()})
            elif isinstance(change, Increment):
                if row[change.column] is not None:  # as SQL: NULL + 1 is NULL
                    row[change.column] += change.delta
            else:  # deleted, or its key changed: not known (a read finds what is there)
                del rows[found]
        else:
            unknown.add(table.name)
    return {found: row for found, row in rows.items() if found[0] not in unknown}


def _by_key(change: Patch | Increment | Delete, key: str) -> bool:
    """Whether the change names one row by its key alone (None would match NULL keys)."""
    return len(change.where) == 1 and change.where.get(key) is not None
