"""Where a deployment goes: the healthy host with room that is nearest its users.

Pure: candidates and users come in, a choice (or none) comes out. Preferred private hosts are
tried in the caller's order first; then every host competes on mean great-circle distance to
the users (ties broken by host id, so the same inputs always give the same answer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Candidate:
    """A node as placement sees it: where it is, what is free, what it holds."""

    host_id: str
    point: Point | None  # a host with no location is placed only by preference
    free_cpu_units: int
    free_memory_mb: int
    healthy: bool = True
    cached_images: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Need:
    cpu_units: int
    memory_mb: int
    image: str
    require_cached: bool = False
    preferred: tuple[str, ...] = ()  # private_host_ids, in priority order


def distance_km(a: Point, b: Point) -> float:
    """Haversine distance."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def fits(candidate: Candidate, need: Need) -> bool:
    if not candidate.healthy:
        return False
    if candidate.free_cpu_units < need.cpu_units or candidate.free_memory_mb < need.memory_mb:
        return False
    return not need.require_cached or need.image in candidate.cached_images


def mean_distance(candidate: Candidate, users: Sequence[Point]) -> float:
    if candidate.point is None or not users:
        return math.inf
    here = candidate.point
    return sum(distance_km(here, user) for user in users) / len(users)


def place(candidates: Sequence[Candidate], users: Sequence[Point], need: Need) -> Candidate | None:
    """The preferred host that fits, in order; else the nearest that fits; else None."""
    by_id = {c.host_id: c for c in candidates}
    for host_id in need.preferred:
        preferred = by_id.get(host_id)
        if preferred is not None and fits(preferred, need):
            return preferred
    best: Candidate | None = None
    best_key = (math.inf, "")
    for candidate in candidates:
        if not fits(candidate, need):
            continue
        key = (mean_distance(candidate, users), candidate.host_id)
        if best is None or key < best_key:
            best, best_key = candidate, key
    return best
