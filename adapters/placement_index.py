"""PlacementIndex from the hosts read model (joined with node status and cached images)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from uuid import UUID

import msgspec

from domain.placement import Candidate, Point
from projections.deployment_tables import HostRecord
from projections.records import Records
from projections.view import TableView

PAGE = 5000
# A snapshot younger than this counts as fresh: a full fleet under a flood of deploys then
# re-reads its hosts at most 20 times a second, not once per refused deploy.
FRESH = 0.05


class HostRoom(msgspec.Struct, frozen=True, kw_only=True):
    """The columns of a host that placement reads (HostRecord's, status and images joined)."""

    node_id: UUID
    location: str | None = None  # JSON
    cpu_units: int
    memory_mb: int
    allocated_cpu_units: int
    allocated_memory_mb: int
    status: str | None = None  # None once the node row is gone
    images: str | None = None  # "|image|image|"


def candidate(host: HostRoom) -> Candidate:
    location = json.loads(host.location or "{}")
    lat, lon = location.get("latitude"), location.get("longitude")
    images = frozenset(i for i in (host.images or "").split("|") if i)
    return Candidate(
        host_id=str(host.node_id),
        point=Point(lat, lon) if lat is not None and lon is not None else None,
        free_cpu_units=host.cpu_units - host.allocated_cpu_units,
        free_memory_mb=host.memory_mb - host.allocated_memory_mb,
        healthy=host.status == "healthy",
        cached_images=images,
    )


class ViewPlacementIndex:
    """Every host, read at most every `max_age` seconds: reading and decoding 1,000 rows per
    deploy cost more than the decision. A stale snapshot cannot overbook: the Host aggregate
    checks the room again when it allocates, and a full host sends the decision to the next."""

    def __init__(self, view: TableView, max_age: float = 0.5) -> None:
        self.hosts, self.max_age = Records(view, HostRecord), max_age
        self._lock = threading.Lock()
        self._snapshot: tuple[float, list[Candidate], dict[str, dict[str, Any]]] | None = None

    def refresh(self) -> bool:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or time.monotonic() - snapshot[0] < FRESH:
                return False
            self._snapshot = None
            return True

    def candidates(self) -> list[Candidate]:
        return self._fresh()[1]

    def locations(self) -> dict[str, dict[str, Any]]:
        return self._fresh()[2]

    def _fresh(self) -> tuple[float, list[Candidate], dict[str, dict[str, Any]]]:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or time.monotonic() - snapshot[0] > self.max_age:
                hosts = list(self.hosts.every_narrow(HostRoom, size=PAGE))
                places = {str(h.node_id): json.loads(h.location or "{}") for h in hosts}
                snapshot = self._snapshot = (time.monotonic(), [candidate(h) for h in hosts],
                                             places)
        return snapshot
