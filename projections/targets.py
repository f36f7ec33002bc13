"""Resolves command/self-update targeting against the fleet read model.

Filters mean exactly what the same-named list filters mean (GET /nodes, GET /clusters): the
query language's reference semantics are shared, so every view resolves alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.targeting import ClusterFilters, NodeFilters, Targeting, TargetType, moment_bound
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.view import TableView

CHUNK = 500  # ids or names per query: keeps each OR-list a reasonable statement
PAGE = 5_000


@dataclass(frozen=True)
class Resolved:
    node_id: UUID
    cluster_name: str


def _text(column: str, value: str) -> Cond:
    return Cond(column, "glob" if "*" in value else "eq", value)


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
            out.append(Cond("node_count", op, getattr(f, name)))
    return out


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _any(column: str, values: Sequence[Any]) -> AnyOf:
    return AnyOf(tuple(Cond(column, "eq", v) for v in values))


def _all_rows(view: TableView, table: str, filters: list[Filter]) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        query = ListQuery(tuple(filters), (Order("id"),), page=page, page_size=PAGE)
        rows = view.query(table, query).rows
        yield from rows
        if len(rows) < PAGE:
            return
        page += 1


def cluster_scope(view: TableView, targeting: Targeting) -> list[str] | None:
    """Names of the clusters nodes must be in, or None when any cluster will do."""
    named = targeting.cluster_names if targeting.type is TargetType.CLUSTERS else None
    if targeting.cluster_filters is None:
        return list(named) if named is not None else None
    conditions = cluster_conditions(targeting.cluster_filters)
    if named is None:
        return [r["name"] for r in _all_rows(view, "clusters", conditions)]
    return [r["name"] for chunk in _chunks(named)
            for r in _all_rows(view, "clusters", [*conditions, _any("name", chunk)])]


def resolve(view: TableView, targeting: Targeting) -> list[Resolved]:
    """Every node the targeting reaches now, each once, ordered by id."""
    scope = cluster_scope(view, targeting)
    if scope is not None and not scope:
        return []
    base = node_conditions(targeting.node_filters) if targeting.node_filters else []
    restrictions: list[list[Filter]] = [[]]
    if targeting.type is TargetType.NODES:
        restrictions = [[_any("id", chunk)] for chunk in _chunks(targeting.node_ids or [])]
    if scope is not None:
        restrictions = [[*r, _any("cluster_name", chunk)]
                        for r in restrictions for chunk in _chunks(scope)]
    found: dict[UUID, Resolved] = {}
    for extra in restrictions:
        for row in _all_rows(view, "nodes", [*base, *extra]):
            found[row["id"]] = Resolved(row["id"], row["cluster_name"])
    return [found[k] for k in sorted(found, key=str)]

