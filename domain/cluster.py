"""Edge clusters: named groups of nodes with an address range and an optional node limit."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import BAD_DNS_LABEL, DNS_LABEL, GoneError, InvalidValueError, StateConflictError
from domain.soft_delete import SoftDeletable

RESERVED_NAMES = frozenset({"default"})
MAX_NAME = 24


class ClusterNotEmptyError(StateConflictError):
    """A cluster that still has nodes cannot be deleted."""


class ClusterFullError(StateConflictError):
    """The cluster has reached its node_limit."""


class ClusterGoneError(GoneError):
    """The cluster was deleted."""


def check_cluster_name(name: str, field: str = "name") -> None:
    if not name:
        raise InvalidValueError("can't be blank", field)
    if len(name) > MAX_NAME:
        raise InvalidValueError(f"should be at most {MAX_NAME} character(s)", field)
    if not DNS_LABEL.match(name):
        raise InvalidValueError(BAD_DNS_LABEL, field)


def check_ipv4_range(cidr: str) -> str:
    try:
        network = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise InvalidValueError(f"is not a valid IPv4 CIDR range ({exc})", "ipv4_range") from None
    if not 8 <= network.prefixlen <= 30:
        raise InvalidValueError("prefix length must be between /8 and /30", "ipv4_range")
    return str(network)


def check_node_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InvalidValueError("must be greater than or equal to 1", "node_limit")


class Cluster(SoftDeletable, Aggregate):
    """An edge cluster; counts its members so node_limit and delete-when-empty hold exactly."""

    @event("Created")
    def __init__(
        self, id: UUID, name: str, ipv4_range: str, node_limit: int | None, at: datetime  # noqa: A002
    ) -> None:
        self.name = name
        self.ipv4_range = ipv4_range
        self.node_limit = node_limit
        self.node_count = 0
        self.deleted = False
        self.created_at = at

    @classmethod
    def create(
        cls, cluster_id: UUID, name: str, ipv4_range: str, node_limit: int | None, at: datetime
    ) -> Cluster:
        check_cluster_name(name)
        if name in RESERVED_NAMES:
            raise InvalidValueError(f"'{name}' is reserved", "name")
        check_node_limit(node_limit)
        return cls(id=cluster_id, name=name, ipv4_range=ipv4_range, node_limit=node_limit, at=at)

    def gone(self) -> GoneError:
        return ClusterGoneError(f"cluster {self.name} was deleted")

    def change_node_limit(self, node_limit: int | None, at: datetime) -> None:
        self.check_live()
        check_node_limit(node_limit)
        if node_limit is not None and node_limit < self.node_count:
            raise InvalidValueError(
                f"must be at least the current node_count ({self.node_count})", "node_limit"
            )
        if node_limit != self.node_limit:
            self._node_limit_changed(node_limit=node_limit, at=at)

    @event("NodeLimitChanged")
    def _node_limit_changed(self, node_limit: int | None, at: datetime) -> None:
        self.node_limit = node_limit

    def admit(self, node_id: UUID) -> None:
        self.check_live()
        if self.node_limit is not None and self.node_count >= self.node_limit:
            raise ClusterFullError(
                f"cluster {self.name} is at its node_limit ({self.node_limit})", "cluster_name"
            )
        self._node_admitted(node_id=node_id)

    @event("NodeAdmitted")
    def _node_admitted(self, node_id: UUID) -> None:
        self.node_count += 1

    def release(self, node_id: UUID) -> None:
        self._node_released(node_id=node_id)

    @event("NodeReleased")
    def _node_released(self, node_id: UUID) -> None:
        self.node_count = max(0, self.node_count - 1)

    def check_deletable(self) -> None:
        if self.node_count:
            raise ClusterNotEmptyError(
                f"cluster {self.name} still has {self.node_count} node(s)", "name"
            )

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
