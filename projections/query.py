"""The list-query language every list endpoint shares, and its reference semantics in Python.

SQL views compile the same structures; property tests check they agree with `matches`/`run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.model import Kind, Table

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "glob", "iglob", "null", "notnull")


@dataclass(frozen=True)
class Cond:
    """column <op> value; glob/iglob take `*` wildcards (iglob ignores ASCII case)."""

    column: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class AnyOf:
    """True when any of its conditions holds."""

    items: tuple[Cond, ...]


Filter = Cond | AnyOf


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    page: int = 1
    page_size: int = 20
    # Internal readers that need a few columns and no total (targeting 10,000 nodes) say so:
    # SQL views then fetch only those columns and skip the COUNT. Rows may hold more columns.
    columns: tuple[str, ...] = ()
    count: bool = True


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # -1 when the query asked for no count


def ascii_lower(text: str) -> str:
    """Lower-cases A-Z only, the same way SQLite's lower() does."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters; every other character matches itself."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == text
    if not text.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for middle in parts[1:-1]:
        found = text.find(middle, pos)
        if found < 0:
            return False
        pos = found + len(middle)
    return len(text) - pos >= len(parts[-1]) and text.endswith(parts[-1])


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None:
        return False
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    if op == "glob":
        return glob_match(right, left)
    if op == "iglob":
        return glob_match(ascii_lower(right), ascii_lower(left))
    raise ValueError(op)


def matches(row: dict[str, Any], item: Filter) -> bool:
    if isinstance(item, AnyOf):
        return any(matches(row, c) for c in item.items)
    value = row.get(item.column)
    if item.op == "null":
        return value is None
    if item.op == "notnull":
        return value is not None
    return _compare(item.op, value, item.value)


def sort_key(table: Table, order: tuple[Order, ...]) -> Any:
    """Key for Python's sort: NULLs after values ascending (first descending), key breaks ties."""

    class Key:
        __slots__ = ("row",)

        def __init__(self, row: dict[str, Any]) -> None:
            self.row = row

        def __lt__(self, other: Key) -> bool:
            for o in (*order, Order(table.key)):
                a, b = self.row.get(o.column), other.row.get(o.column)
                if a == b:
                    continue
                if a is None or b is None:
                    return (a is None) == o.descending
                return bool(a > b) if o.descending else bool(a < b)
            return False

    return Key


def run(table: Table, rows: list[dict[str, Any]], query: ListQuery) -> Page:
    """Filters, sorts and pages rows exactly as the SQL views do."""
    hits = [r for r in rows if all(matches(r, f) for f in query.filters)]
    hits.sort(key=sort_key(table, query.order))
    start = (query.page - 1) * query.page_size
    return Page(hits[start : start + query.page_size], len(hits))


def check_column(table: Table, column: str) -> Kind:
    return table.kind_of(column)
