"""Name claims and the address pool: the aggregates that make uniqueness hold under races."""

from __future__ import annotations

import ipaddress
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import StateConflictError, name_id

CGNAT_POOL = ipaddress.IPv4Network("100.64.0.0/10")
AUTO_PREFIX = 24


class NameTakenError(StateConflictError):
    """Another live object already holds this name in this scope."""


class RangeOverlapError(StateConflictError):
    """The requested CIDR overlaps a range another cluster holds."""


class PoolExhaustedError(StateConflictError):
    """No free block is left in the automatic address pool."""


class NameClaim(Aggregate):
    """One unique name in one scope; concurrent claims collide on its version."""

    @staticmethod
    def id_for(kind: str, *scope_and_name: str) -> UUID:
        return name_id("claim", kind, *scope_and_name)

    @event("Claimed")
    def __init__(self, id: UUID, owner_id: UUID) -> None:  # noqa: A002 - eventsourcing keyword
        self.owner_id: UUID | None = owner_id

    def claim(self, owner_id: UUID, label: str) -> None:
        if self.owner_id is not None and self.owner_id != owner_id:
            raise NameTakenError(f"{label} is already taken", field="name")
        if self.owner_id is None:
            self._reclaimed(owner_id=owner_id)

    @event("Reclaimed")
    def _reclaimed(self, owner_id: UUID) -> None:
        self.owner_id = owner_id

    def release(self, owner_id: UUID) -> None:
        if self.owner_id == owner_id:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.owner_id = None


class AddressPool(Aggregate):
    """Every cluster's IPv4 range; a singleton so overlaps are decided against one state."""

    POOL_ID = name_id("address-pool", str(CGNAT_POOL))

    @event("Opened")
    def __init__(self, id: UUID) -> None:  # noqa: A002
        self.ranges: dict[str, str] = {}

    def allocate(self, cluster_id: UUID, requested: str | None) -> str:
        if requested is None:
            cidr = self._first_free_block()
        else:
            cidr = requested
            for owner, taken in self.ranges.items():
                if owner != str(cluster_id) and _overlaps(taken, cidr):
                    raise RangeOverlapError(f"ipv4_range {cidr} overlaps {taken}", "ipv4_range")
        self._allocated(cluster_id=str(cluster_id), cidr=cidr)
        return cidr

    @event("Allocated")
    def _allocated(self, cluster_id: str, cidr: str) -> None:
        self.ranges[cluster_id] = cidr

    def release(self, cluster_id: UUID) -> None:
        if str(cluster_id) in self.ranges:
            self._released(cluster_id=str(cluster_id))

    @event("Released")
    def _released(self, cluster_id: str) -> None:
        self.ranges.pop(cluster_id, None)

    def _first_free_block(self) -> str:
        taken = [ipaddress.IPv4Network(c) for c in self.ranges.values()]
        for block in CGNAT_POOL.subnets(new_prefix=AUTO_PREFIX):
            if not any(block.overlaps(t) for t in taken):
                return str(block)
        raise PoolExhaustedError("no free /24 left in 100.64.0.0/10", "ipv4_range")


def _overlaps(a: str, b: str) -> bool:
    return ipaddress.IPv4Network(a).overlaps(ipaddress.IPv4Network(b))
