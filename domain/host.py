"""A node as a place to run deployments: where it is, how much it offers, which private fleet it
belongs to, and what it has promised. Allocations live here so that two deployments racing for
the last room on one node conflict on this aggregate's version instead of both landing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import InvalidValueError, StateConflictError, name_id

FLEET_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
LOCATION_FIELDS = ("city", "country", "continent", "administrative_division", "timezone",
                   "latitude", "longitude")
MAX_UNITS = 1 << 40


class HostFullError(StateConflictError):
    """The host has no room left for this deployment."""


def host_uuid(node_id: UUID) -> UUID:
    return name_id("host", str(node_id))


def check_location(location: dict[str, Any]) -> None:
    unknown = set(location) - set(LOCATION_FIELDS)
    if unknown:
        raise InvalidValueError(f"unknown field(s): {', '.join(sorted(unknown))}", "location")
    lat, lon = location.get("latitude"), location.get("longitude")
    if (lat is None) != (lon is None):
        raise InvalidValueError("latitude and longitude go together", "location")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidValueError("latitude must be within ±90 and longitude within ±180",
                                "location")


def check_capacity(cpu_units: int, memory_mb: int) -> None:
    if not (0 <= cpu_units <= MAX_UNITS and 0 <= memory_mb <= MAX_UNITS):
        raise InvalidValueError("cpu_units and memory_mb must be between 0 and 2^40", "capacity")


@dataclass(frozen=True)
class Profile:
    """What a host offers and where it is: the part of a Host that edits change."""

    location: dict[str, Any]
    cpu_units: int
    memory_mb: int
    fleet: str | None


def changed_profile(current: Profile, changes: dict[str, Any]) -> Profile:
    """The profile `changes` make of `current`, checked (fields not named stay as they are);
    equal to `current` when they change nothing."""
    location = {**current.location, **changes.get("location", {})}
    check_location(location)
    cpu = changes.get("cpu_units", current.cpu_units)
    memory = changes.get("memory_mb", current.memory_mb)
    check_capacity(cpu, memory)
    fleet = changes.get("fleet", current.fleet)
    _check_fleet(fleet)
    return Profile(location, cpu, memory, fleet)


class Host(Aggregate):
    """Placement profile and allocations of one node."""

    @event("Profiled")
    def __init__(  # noqa: PLR0913
        self, id: UUID, node_id: UUID, location: dict[str, Any], cpu_units: int,  # noqa: A002
        memory_mb: int, fleet: str | None, at: datetime,
    ) -> None:
        self.node_id = node_id
        self.location = dict(location)
        self.cpu_units, self.memory_mb = cpu_units, memory_mb
        self.fleet = fleet
        self.allocations: dict[str, list[int]] = {}

    @classmethod
    def profile(  # noqa: PLR0913
        cls, node_id: UUID, location: dict[str, Any], cpu_units: int, memory_mb: int,
        fleet: str | None, at: datetime,
    ) -> Host:
        check_location(location)
        check_capacity(cpu_units, memory_mb)
        _check_fleet(fleet)
        return cls(id=host_uuid(node_id), node_id=node_id, location=location,
                   cpu_units=cpu_units, memory_mb=memory_mb, fleet=fleet, at=at)

    def update(self, changes: dict[str, Any], at: datetime) -> None:
        """Operator or agent edits; fields not named stay as they are."""
        now = self.current_profile()
        after = changed_profile(now, changes)
        if after != now:
            self._updated(node_id=self.node_id, location=after.location,
                          cpu_units=after.cpu_units, memory_mb=after.memory_mb,
                          fleet=after.fleet, at=at)

    def current_profile(self) -> Profile:
        return Profile(dict(self.location), self.cpu_units, self.memory_mb, self.fleet)

    @event("Updated")
    def _updated(self, node_id: UUID, location: dict[str, Any], cpu_units: int,  # noqa: PLR0913
                 memory_mb: int, fleet: str | None, at: datetime) -> None:
        self.location = dict(location)
        self.cpu_units, self.memory_mb, self.fleet = cpu_units, memory_mb, fleet

    @property
    def allocated(self) -> tuple[int, int]:
        return (sum(a[0] for a in self.allocations.values()),
                sum(a[1] for a in self.allocations.values()))

    def free(self) -> tuple[int, int]:
        cpu, memory = self.allocated
        return self.cpu_units - cpu, self.memory_mb - memory

    def allocate(self, request_id: str, cpu_units: int, memory_mb: int, at: datetime) -> None:
        if request_id in self.allocations:
            return
        free_cpu, free_memory = self.free()
        if cpu_units > free_cpu or memory_mb > free_memory:
            raise HostFullError(f"host {self.node_id} has no room for {request_id}")
        self._allocated(node_id=self.node_id, request_id=request_id, cpu_units=cpu_units,
                        memory_mb=memory_mb, at=at)

    @event("Allocated")
    def _allocated(self, node_id: UUID, request_id: str, cpu_units: int,
                   memory_mb: int, at: datetime) -> None:
        self.allocations[request_id] = [cpu_units, memory_mb]

    def release(self, request_id: str, at: datetime) -> None:
        if request_id in self.allocations:
            cpu, memory = self.allocations[request_id]
            self._released(node_id=self.node_id, request_id=request_id, cpu_units=cpu,
                           memory_mb=memory, at=at)

    @event("Released")
    def _released(self, node_id: UUID, request_id: str, cpu_units: int,
                  memory_mb: int, at: datetime) -> None:
        self.allocations.pop(request_id, None)


def _check_fleet(fleet: str | None) -> None:
    if fleet is not None and not FLEET_NAME.match(fleet):
        raise InvalidValueError("must be a DNS label (lowercase letters, digits, hyphens)",
                                "fleet")
