"""Typed reads of one read-model table: rows come back as Record structs, not dicts.

Handlers and ports used to name tables with strings and index rows by column name, so a
renamed column failed at the first request that read it. A Record declares its table's columns
once: `table_of` derives the Table (names, order and kinds) from the record's fields, so the two
cannot drift (tests/unit/projections/test_records.py still holds every record to its table).
`Records` is the one place rows turn into records; a context's `Reads` declares one per record
it reads. The conversion is `msgspec.convert`: UUIDs and datetimes pass through as they are, and
a node row takes about half a microsecond (bench/records.py).
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union
from uuid import UUID

import msgspec

from projections.model import Column, Join, Kind, Table
from projections.query import Cond, Filter, ListQuery, Order
from projections.view import TableView


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """One row of `TABLE`, joined columns included: a field per column, same name, its
    Python type (`X | None` where the column may be NULL)."""

    TABLE: ClassVar[Table]


R = TypeVar("R", bound=Record)
S = TypeVar("S", bound=msgspec.Struct)

# bool before int: a bool is an int to issubclass.
_KINDS = ((bool, Kind.BOOL), (int, Kind.INT), (str, Kind.TEXT), (datetime, Kind.TIME),
          (UUID, Kind.UUID))


def kind_of(hint: Any) -> Kind:
    """The column kind of a record field's type: `X | None` by X, a Literal or enum of text
    as TEXT."""
    inner: Any = hint
    if typing.get_origin(inner) in (Union, types.UnionType):
        inner = _only([a for a in typing.get_args(inner) if a is not type(None)], hint)
    if typing.get_origin(inner) is Literal:
        inner = _only(list({type(a) for a in typing.get_args(inner)}), hint)
    if isinstance(inner, type):
        if issubclass(inner, enum.Enum) and not issubclass(inner, (str, int)):
            raise TypeError(f"{inner.__name__}: an enum column needs str or int values")
        for python, kind in _KINDS:
            if issubclass(inner, python):
                return kind
    raise TypeError(f"no column kind for {hint!r}")


def _only(types_: list[Any], hint: Any) -> Any:
    if len(types_) != 1:
        raise TypeError(f"a column holds one type, not {hint!r}")
    return types_[0]


def table_of(record: type[R], name: str, *, key: str = "id", indexes: tuple[str, ...] = (),
             joins: tuple[Join, ...] = ()) -> Table:
    """The table whose columns are the record's fields, in their order, less those the joins
    bring; it becomes the record's TABLE. It is owned (rebuilt by replay): a table that does not
    come from events has no record and is declared as a plain Table."""
    hints = typing.get_type_hints(record)
    joined = {c.name for j in joins for c in j.columns}
    columns = tuple(Column(f, kind_of(hints[f])) for f in record.__struct_fields__
                    if f not in joined)
    record.TABLE = Table(name, key, columns, indexes, owned=True, joins=joins)
    return record.TABLE


@dataclass(frozen=True)
class RecordPage(Generic[R]):
    """One page of records and the number of matches (-1 when the query asked for none)."""

    records: list[R]
    total: int


class Records(Generic[R]):
    """The reads of one table, typed by its record."""

    def __init__(self, view: TableView, record: type[R]) -> None:
        self.view, self.record = view, record
        self.table = record.TABLE.name
        self._key = record.TABLE.key
        self._many = list[record]  # type: ignore[valid-type]

    def get(self, key: Any) -> R | None:
        rows = self.view.select(self.table, {self._key: key}, limit=1)
        return msgspec.convert(rows[0], self.record) if rows else None

    def of_row(self, row: dict[str, Any]) -> R | None:
        """The record of a row known without reading it (projections.committed); None for a
        table with joins, whose joined columns such a row does not hold."""
        if self.record.TABLE.joins:
            return None
        return msgspec.convert(row, self.record)

    # The *_async reads are awaited on the event loop; the view reads there or in a worker
    # thread (TableView.reads_async).
    async def get_async(self, key: Any) -> R | None:
        rows = await self.view.select_async(self.table, {self._key: key}, limit=1)
        return msgspec.convert(rows[0], self.record) if rows else None

    async def select_async(self, where: dict[str, Any], limit: int = 1000) -> list[R]:
        rows = await self.view.select_async(self.table, where, limit)
        found: list[R] = msgspec.convert(rows, self._many)
        return found

    async def page_async(self, query: ListQuery) -> RecordPage[R]:
        assert not query.columns, "a record needs every column"
        found = await self.view.query_async(self.table, query)
        return RecordPage(msgspec.convert(found.rows, self._many), found.total)

    def select(self, where: dict[str, Any], limit: int = 1000) -> list[R]:
        """Records whose columns equal `where`, in key order."""
        found: list[R] = msgspec.convert(self.view.select(self.table, where, limit), self._many)
        return found

    def page(self, query: ListQuery) -> RecordPage[R]:
        """Filters, orders and pages (the list endpoints' query language)."""
        assert not query.columns, "a record needs every column"
        found = self.view.query(self.table, query)
        return RecordPage(msgspec.convert(found.rows, self._many), found.total)

    def first(self, *filters: Filter) -> R | None:
        """The first record (in key order) that matches every filter."""
        found = self.page(ListQuery(filters, page_size=1, count=False)).records
        return found[0] if found else None

    def every(self, *filters: Filter, size: int = 1000, order: str | None = None
              ) -> Iterator[R]:
        """Every matching record in key order (or that of `order`, a unique column), `size`
        at a time (no COUNT)."""
        page = 1
        while True:
            query = ListQuery(filters, (Order(order or self._key),), page, size, count=False)
            found = self.page(query).records
            yield from found
            if len(found) < size:
                return
            page += 1

    def narrow(self, shape: type[S], query: ListQuery) -> list[S]:
        """A page of only the columns `shape` names (some of the record's fields, the same
        names and types): the few columns a question of many rows needs, the rest unread."""
        found: list[S] = msgspec.convert(
            self.view.query(self.table, self._narrowed(shape, query)).rows,
            list[shape])  # type: ignore[valid-type]
        return found

    async def narrow_async(self, shape: type[S], query: ListQuery) -> list[S]:
        page = await self.view.query_async(self.table, self._narrowed(shape, query))
        found: list[S] = msgspec.convert(page.rows, list[shape])  # type: ignore[valid-type]
        return found

    def _narrowed(self, shape: type[S], query: ListQuery) -> ListQuery:
        columns = shape.__struct_fields__
        assert set(columns) <= set(self.record.__struct_fields__), (shape, self.record)
        return ListQuery(query.filters, query.order, query.page, query.page_size, columns,
                         count=False)

    def every_narrow(self, shape: type[S], *filters: Filter, size: int = 1000) -> Iterator[S]:
        """`every`, narrowed to the columns `shape` names."""
        page = 1
        while True:
            found = self.narrow(shape, ListQuery(filters, (Order(self._key),), page, size))
            yield from found
            if len(found) < size:
                return
            page += 1

    def ids(self, query: ListQuery) -> list[Any]:
        """The keys of a page (reads only the key column on SQL views)."""
        narrowed = ListQuery(query.filters, query.order, query.page, query.page_size,
                             (self._key,), count=False)
        return [row[self._key] for row in self.view.query(self.table, narrowed).rows]


class Reads:
    """A context's reads on one view: each attribute declared as `Records[SomeRecord]` is that
    record's Records, so a context names its records once, in the declaration."""

    view: TableView

    def __init__(self, view: TableView) -> None:
        self.view = view
        for name, hint in typing.get_type_hints(type(self)).items():
            if typing.get_origin(hint) is Records:
                setattr(self, name, Records(view, typing.get_args(hint)[0]))


def equal(column: str, value: Any) -> Cond:
    return Cond(column, "eq", value)
