"""Read-model tables and the changes a projection asks a view to apply to them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    TIME = "time"
    UUID = "uuid"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


@dataclass(frozen=True)
class Join:
    """A side table whose columns read as if they were the main table's (LEFT JOIN)."""

    table: str
    local: str
    remote: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Table:
    """One read-model table; owned tables are emptied and rebuilt by replay."""

    name: str
    key: str
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()
    owned: bool = True
    joins: tuple[Join, ...] = ()

    def kind_of(self, column: str) -> Kind:
        for col in self.all_columns():
            if col.name == column:
                return col.kind
        raise KeyError(column)

    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + tuple(c for j in self.joins for c in j.columns)


def cols(*spec: tuple[str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(n, k) for n, k in spec)


STAMPS = (("inserted_at", Kind.TIME), ("updated_at", Kind.TIME))


class Upsert(msgspec.Struct, frozen=True):
    table: str
    row: dict[str, Any]


class UpsertMax(msgspec.Struct, frozen=True):
    """Insert the row, or raise `column` to the row's value if that is later."""

    table: str
    row: dict[str, Any]
    column: str


class _Found:
    def __repr__(self) -> str:
        return "FOUND"


# In the row of a `TableView.select_touching_async` touch: the key of the row found.
FOUND: Any = _Found()


class Patch(msgspec.Struct, frozen=True):
    """Set fields on every row whose columns equal `where`."""

    table: str
    where: dict[str, Any]
    fields: dict[str, Any]


class Increment(msgspec.Struct, frozen=True):
    table: str
    where: dict[str, Any]
    column: str
    delta: int


class Delete(msgspec.Struct, frozen=True):
    """Delete every row whose columns equal `where`. With `column`, only the rows whose
    `column` is NULL or not later than `upto`: a row written after the event that deletes it
    (a heartbeat of a node re-enrolled since its deletion) outlives that event's replay."""

    table: str
    where: dict[str, Any] = msgspec.field(default_factory=dict)
    column: str | None = None
    upto: Any = None


Change = Upsert | UpsertMax | Patch | Increment | Delete
