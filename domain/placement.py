"""Where a deployment goes: the healthy host with room that is nearest its users.

Pure: candidates and users come in, a choice (or none) comes out. Preferred private hosts are
tried in the caller's order first; then every host competes on mean great-circle distance to
the users (ties broken by host id, so the same inputs always give the same answer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
    return mean_distance_to(users)(candidate.point)


def ranking(candidates: Sequence[Candidate], users: Sequence[Point],
            preferred: Sequence[str] = ()) -> list[Candidate]:
    """Every candidate in the order placement considers it: the preferred ones in the caller's
    order, then the rest by mean distance to the users (ties by host id). It ignores room, so
    it can be computed before the need is known, away from the write path's critical section."""
    by_id = {c.host_id: c for c in candidates}
    first = [by_id[h] for h in dict.fromkeys(preferred) if h in by_id]
    chosen = {c.host_id for c in first}
    away = mean_distance_to(users)
    rest = sorted((c for c in candidates if c.host_id not in chosen),
                  key=lambda c: (away(c.point), c.host_id))
    return first + rest


def mean_distance_to(users: Sequence[Point]) -> Callable[[Point | None], float]:
    """mean_distance with the users' trigonometry done once, not once per candidate: ranking
    1,000 hosts is otherwise mostly recomputing the same radians and cosines. The arithmetic
    is distance_km's, step for step, so both give the same floats (and the same order)."""
    if not users:
        return lambda point: math.inf
    pre = [(math.radians(u.latitude), math.cos(math.radians(u.latitude)), u.longitude)
           for u in users]
    radians, sin, cos, asin, sqrt = math.radians, math.sin, math.cos, math.asin, math.sqrt
    diameter, count = 2 * EARTH_RADIUS_KM, len(pre)

    def away(point: Point | None) -> float:
        if point is None:
            return math.inf
        lat = radians(point.latitude)
        cos_lat, lon, total = cos(lat), point.longitude, 0.0
        for u_lat, u_cos, u_lon in pre:
            h = sin((u_lat - lat) / 2) ** 2 + cos_lat * u_cos * sin(radians(u_lon - lon) / 2) ** 2
            total += diameter * asin(min(1.0, sqrt(h)))
        return total / count

    return away


def place(candidates: Sequence[Candidate], users: Sequence[Point], need: Need) -> Candidate | None:
    """The preferred host that fits, in order; else the nearest that fits; else None."""
    return next((c for c in ranking(candidates, users, need.preferred) if fits(c, need)), None)
