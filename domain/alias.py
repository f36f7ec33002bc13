"""Aliases: extra DNS names for a node inside its cluster's VPN domain."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import (
    BAD_DNS_LABEL,
    DNS_LABEL,
    UUID_SHAPE,
    GoneError,
    InvalidValueError,
    declared_by_fields,
)
from domain.soft_delete import SoftDeletable

MAX_ALIAS = 63


class AliasGoneError(GoneError):
    """The alias was deleted."""


def check_alias_name(name: str) -> None:
    if not name:
        raise InvalidValueError("can't be blank", "name")
    if len(name) > MAX_ALIAS:
        raise InvalidValueError(f"should be at most {MAX_ALIAS} character(s)", "name")
    if not DNS_LABEL.match(name):
        raise InvalidValueError(BAD_DNS_LABEL, "name")
    if UUID_SHAPE.match(name):
        # node-<alias> would shadow the node-<uuid> hostname of some node.
        raise InvalidValueError("must not be a UUID (reserved for node hostnames)", "name")


@declared_by_fields
class Alias(SoftDeletable, Aggregate):
    """A DNS alias; follows its node when the node changes cluster."""

    id: UUID
    node_id: UUID
    cluster_id: UUID
    cluster_name: str
    name: str
    at: datetime
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(  # noqa: PLR0913
        cls, alias_id: UUID, node_id: UUID, cluster_id: UUID, cluster_name: str, name: str,
        at: datetime,
    ) -> Alias:
        check_alias_name(name)
        return cls(
            id=alias_id, node_id=node_id, cluster_id=cluster_id, cluster_name=cluster_name,
            name=name, at=at,
        )

    def gone(self) -> GoneError:
        return AliasGoneError("alias was deleted")

    def move(self, cluster_id: UUID, cluster_name: str, at: datetime) -> None:
        self.check_live()
        self._moved(cluster_id=cluster_id, cluster_name=cluster_name, at=at)

    @event("Moved")
    def _moved(self, cluster_id: UUID, cluster_name: str, at: datetime) -> None:
        self.cluster_id = cluster_id
        self.cluster_name = cluster_name

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
