"""Targeting shared by commands and self-update requests: which nodes an order reaches.

The structs are the request body's `targeting` object (unknown keys refused, as the seed's
`additionalProperties: false` says). `checked()` applies the seed's rules; resolving against
the fleet happens on the read side (projections/targets.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from domain.node import IdType
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError, parse_moment

# One order may name every node of a large fleet; beyond this a client should use filters.
MAX_LISTED = 50_000
Moment = Annotated[str, Meta(min_length=1, max_length=64)]
Pattern = Annotated[str, Meta(min_length=1, max_length=255)]


class TargetType(StrEnum):
    ALL = "all"
    NODES = "nodes"
    CLUSTERS = "clusters"


class NodeFilters(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Node list filters usable in targeting (AND with cluster_filters)."""

    cluster_name: Pattern | None = None
    id_type: IdType | None = None
    inserted_at__gte: Moment | None = None
    inserted_at__lte: Moment | None = None
    last_seen_at__gte: Moment | None = None
    last_seen_at__lte: Moment | None = None
    updated_at__gte: Moment | None = None
    updated_at__lte: Moment | None = None
    self_update_enabled: bool | None = None
    status: NodeStatus | None = None
    version: Pattern | None = None


class ClusterFilters(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Cluster list filters usable in targeting; a node matches when its cluster does."""

    has_node_limit: bool | None = None
    inserted_at__gte: Moment | None = None
    inserted_at__lte: Moment | None = None
    updated_at__gte: Moment | None = None
    updated_at__lte: Moment | None = None
    ipv4_range: Pattern | None = None
    name: Pattern | None = None
    node_count: Annotated[int, Meta(ge=0)] | None = None
    node_count__gte: Annotated[int, Meta(ge=0)] | None = None
    node_count__lte: Annotated[int, Meta(ge=0)] | None = None


class Targeting(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`all`, `nodes` (node_ids) or `clusters` (cluster_names), refined by filters."""

    type: TargetType
    node_ids: Annotated[list[UUID], Meta(max_length=MAX_LISTED)] | None = None
    cluster_names: Annotated[list[str], Meta(max_length=MAX_LISTED)] | None = None
    node_filters: NodeFilters | None = None
    cluster_filters: ClusterFilters | None = None

    def checked(self) -> Targeting:
        """The seed's rules applied: lists required by their type (and only there), deduplicated."""
        node_ids = _listed(self.node_ids, self.type is TargetType.NODES, "node_ids")
        names = _listed(self.cluster_names, self.type is TargetType.CLUSTERS, "cluster_names")
        for prefix, filters in (("node_filters", self.node_filters),
                                ("cluster_filters", self.cluster_filters)):
            if filters is not None:
                _check_moments(filters, prefix)
        return msgspec.structs.replace(self, node_ids=node_ids, cluster_names=names)

    def single_cluster(self) -> str | None:
        """The cluster named when exactly one was targeted (an execution's `cluster_name`)."""
        if self.type is TargetType.CLUSTERS and self.cluster_names and len(self.cluster_names) == 1:
            return self.cluster_names[0]
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in events and echoed back to clients."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Targeting:
        return msgspec.convert(stored, cls)


def _listed(values: list[Any] | None, required: bool, name: str) -> list[Any] | None:
    field = f"targeting.{name}"
    if not required:
        if values is not None:
            raise InvalidValueError("is only allowed for its targeting type", field)
        return None
    if not values:
        raise InvalidValueError("can't be blank", field)
    return list(dict.fromkeys(values))


def _check_moments(filters: msgspec.Struct, prefix: str) -> None:
    for name in filters.__struct_fields__:
        raw = getattr(filters, name)
        if raw is None or not (name.endswith("__gte") or name.endswith("__lte")):
            continue
        if isinstance(raw, str):
            try:
                parse_moment(raw, end_of_day=name.endswith("__lte"))
            except ValueError as exc:
                raise InvalidValueError(str(exc), f"targeting.{prefix}.{name}") from None


def moment_bound(name: str, raw: str) -> Any:
    """A `__gte`/`__lte` filter value as the instant it stands for (dates cover the whole day)."""
    return parse_moment(raw, end_of_day=name.endswith("__lte"))
