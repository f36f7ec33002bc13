"""Resolves command/self-update targeting against the fleet read model.

Filters mean exactly what the same-named list filters mean (GET /nodes, GET /clusters): the
query language's reference semantics are shared, so every view resolves alike.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.targeting import ClusterFilters, NodeFilters, Targeting, TargetType, moment_bound
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.view import TableView

# Only what a target needs is fetched (10,000 full node rows took a third of a second).
_NAME, _TARGET = ("name", "id"), ("id", "cluster_name")
CHUNK = 500  # ids or names per query: keeps each OR-list a reasonable statement
PAGE = 5_000


@dataclass(frozen=True)
class Resolved:
    node_id: UUID
    cluster_name: str


# Stored integers are 64-bit (SQLite refuses larger parameters); the body's integers are not.
_INT_RANGE = (-(2**63), 2**63 - 1)
_NEVER = AnyOf(())


def _text(column: str, value: str) -> Cond:
    return Cond(column, "glob" if "*" in value else "eq", value)


def _count(op: str, value: int) -> Filter:
    """node_count <op> value, for any size of value."""
    low, high = _INT_RANGE
    if low <= value <= high:
        return Cond("node_count", op, value)
    if op == "eq":
        return _NEVER
    always = op == ("le" if value > high else "ge")  # every count is below (above) the value
    return Cond("node_count", "notnull") if always else _NEVER


def _ranges(filters: Any, names: Sequence[str]) -> list[Filter]:
    out: list[Filter] = []
    for name in names:
        raw = getattr(filters, name)
        if raw is None:
            continue
        column, _, op = name.rpartition("__")
        out.append(Cond(column, "ge" if op == "gte" else "le", moment_bound(name, raw)))
    return out


_NODE_TIMES = ("inserted_at__gte", "inserted_at__lte", "last_seen_at__gte", "last_seen_at__lte",
               "updated_at__gte", "updated_at__lte")
_CLUSTER_TIMES = ("inserted_at__gte", "inserted_at__lte", "updated_at__gte", "updated_at__lte")


def node_conditions(f: NodeFilters) -> list[Filter]:
    out = _ranges(f, _NODE_TIMES)
    for column in ("cluster_name", "version"):
        if getattr(f, column) is not None:
            out.append(_text(column, getattr(f, column)))
    for column in ("id_type", "status", "self_update_enabled"):
        value = getattr(f, column)
        if value is not None:
            out.append(Cond(column, "eq", value if isinstance(value, bool) else str(value)))
    return out


def cluster_conditions(f: ClusterFilters) -> list[Filter]:
    out = _ranges(f, _CLUSTER_TIMES)
    for column in ("ipv4_range", "name"):
        if getattr(f, column) is not None:
            out.append(_text(column, getattr(f, column)))
    if f.has_node_limit is not None:
        out.append(Cond("node_limit", "notnull" if f.has_node_limit else "null"))
    for name, op in (("node_count", "eq"), ("node_count__gte", "ge"), ("node_count__lte", "le")):
        if getattr(f, name) is not None:
            out.append(_count(op, getattr(f, name)))
    return out


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _any(column: str, values: Sequence[Any]) -> AnyOf:
    return AnyOf(tuple(Cond(column, "eq", v) for v in values))


# What resolving asks: (table, query) pairs, each answered with that page's rows. Written once
# as a generator, so a thread (`resolve`) and the event loop (`resolve_async`) drive the same
# plan, each with its own way of reading.
Asks = Generator[tuple[str, ListQuery], list[dict[str, Any]], Any]


def all_rows(  # noqa: PLR0913 - the parts of one query
    view: TableView, table: str, filters: list[Filter], size: int, columns: tuple[str, ...],
    order: str = "id",
) -> Iterator[dict[str, Any]]:
    """Every matching row, page by page in `order` (a unique column), without a COUNT."""
    for query in _pages(table, filters, size, columns, order):
        rows = view.query(table, query).rows
        yield from rows
        if len(rows) < size:
            return


def _pages(
    table: str, filters: list[Filter], size: int, columns: tuple[str, ...], order: str = "id",
) -> Iterator[ListQuery]:
    page = 1
    while True:
        yield ListQuery(tuple(filters), (Order(order),), page=page, page_size=size,
                        columns=columns, count=False)
        page += 1


def _every(
    table: str, filters: list[Filter], size: int, columns: tuple[str, ...],
) -> Asks:
    """all_rows as asks: returns every matching row."""
    found: list[dict[str, Any]] = []
    for query in _pages(table, filters, size, columns):
        rows = yield table, query
        found.extend(rows)
        if len(rows) < size:
            break
    return found


def _cluster_scope(targeting: Targeting, chunk: int, page: int) -> Asks:
    """Names of the clusters nodes must be in, or None when any cluster will do."""
    named = None
    if targeting.type is TargetType.CLUSTERS:
        named = list(dict.fromkeys(targeting.cluster_names or []))
    if targeting.cluster_filters is None:
        return list(named) if named is not None else None
    conditions = cluster_conditions(targeting.cluster_filters)
    if named is None:
        return [r["name"] for r in (yield from _every("clusters", conditions, page, _NAME))]
    names: list[str] = []
    for part in _chunks(named, chunk):
        rows = yield from _every("clusters", [*conditions, _any("name", part)], page, _NAME)
        names.extend(r["name"] for r in rows)
    return names


def _resolving(targeting: Targeting, chunk: int, page: int) -> Asks:
    """Every node the targeting reaches now, each once, ordered by id."""
    scope = yield from _cluster_scope(targeting, chunk, page)
    if scope is not None and not scope:
        return []
    base = node_conditions(targeting.node_filters) if targeting.node_filters else []
    restrictions: list[list[Filter]] = [[]]
    if targeting.type is TargetType.NODES:
        restrictions = [[_any("id", part)]
                        for part in _chunks(list(dict.fromkeys(targeting.node_ids or [])), chunk)]
    if scope is not None:
        restrictions = [[*r, _any("cluster_name", part)]
                        for r in restrictions for part in _chunks(scope, chunk)]
    found: dict[UUID, Resolved] = {}
    for extra in restrictions:
        for row in (yield from _every("nodes", [*base, *extra], page, _TARGET)):
            found[row["id"]] = Resolved(row["id"], row["cluster_name"])
    return [found[k] for k in sorted(found, key=str)]


class _Plan:
    """Drives the asks of a plan: `ask` is what to read next (None once the plan is done, its
    answer then in `result`)."""

    def __init__(self, asks: Asks) -> None:
        self._asks = asks
        self.result: list[Resolved] = []
        self.ask: tuple[str, ListQuery] | None = None
        self._step(lambda: next(asks))

    def answer(self, rows: list[dict[str, Any]]) -> None:
        self._step(lambda: self._asks.send(rows))

    def _step(self, advance: Callable[[], tuple[str, ListQuery]]) -> None:
        try:
            self.ask = advance()
        except StopIteration as done:
            self.ask, self.result = None, done.value


def resolve(
    view: TableView, targeting: Targeting, *, chunk: int = CHUNK, page: int = PAGE
) -> list[Resolved]:
    """Every node the targeting reaches now, each once, ordered by id."""
    plan = _Plan(_resolving(targeting, chunk, page))
    while plan.ask is not None:
        plan.answer(view.query(*plan.ask).rows)
    return plan.result


async def resolve_async(
    view: TableView, targeting: Targeting, *, chunk: int = CHUNK, page: int = PAGE
) -> list[Resolved]:
    """`resolve` awaited on the event loop (only where the view `reads_async`)."""
    plan = _Plan(_resolving(targeting, chunk, page))
    while plan.ask is not None:
        plan.answer((await view.query_async(*plan.ask)).rows)
    return plan.result
