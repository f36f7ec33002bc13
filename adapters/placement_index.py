"""PlacementIndex from the hosts read model (joined with node status and cached images)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from domain.placement import Candidate, Point
from projections.targets import all_rows
from projections.view import TableView

PAGE = 5000
# A snapshot younger than this counts as fresh: a full fleet under a flood of deploys then
# re-reads its hosts at most 20 times a second, not once per refused deploy.
FRESH = 0.05
COLUMNS = ("node_id", "location", "cpu_units", "memory_mb", "allocated_cpu_units",
           "allocated_memory_mb", "status", "images")


def candidate(row: dict[str, Any]) -> Candidate:
    location = json.loads(row["location"] or "{}")
    lat, lon = location.get("latitude"), location.get("longitude")
    images = frozenset(i for i in (row.get("images") or "").split("|") if i)
    return Candidate(
        host_id=str(row["node_id"]),
        point=Point(lat, lon) if lat is not None and lon is not None else None,
        free_cpu_units=row["cpu_units"] - row["allocated_cpu_units"],
        free_memory_mb=row["memory_mb"] - row["allocated_memory_mb"],
        healthy=row.get("status") == "healthy",
        cached_images=images,
    )


class ViewPlacementIndex:
    """Every host, read at most every `max_age` seconds: reading and decoding 1,000 rows per
    deploy cost more than the decision. A stale snapshot cannot overbook: the Host aggregate
    checks the room again when it allocates, and a full host sends the decision to the next."""

    def __init__(self, view: TableView, max_age: float = 0.5) -> None:
        self.view, self.max_age = view, max_age
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
                rows = list(all_rows(self.view, "hosts", [], PAGE, COLUMNS, order="node_id"))
                places = {str(r["node_id"]): json.loads(r["location"] or "{}") for r in rows}
                snapshot = self._snapshot = (time.monotonic(), [candidate(r) for r in rows],
                                             places)
        return snapshot
