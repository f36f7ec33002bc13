"""Placement against a brute-force model: the chosen host fits, and no fitting host is nearer;
preferred hosts win in their order; no fit means no placement."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from domain.placement import (
    Candidate,
    Need,
    Point,
    distance_km,
    fits,
    mean_distance,
    place,
    ranking,
)

points = st.builds(Point, st.floats(-90, 90), st.floats(-180, 180))
images = st.sampled_from(["game:1", "game:2", "web:1"])
candidates = st.lists(
    st.builds(
        Candidate,
        host_id=st.text("abcdef0123", min_size=1, max_size=4),
        point=st.none() | points,
        free_cpu_units=st.integers(0, 4096),
        free_memory_mb=st.integers(0, 8192),
        healthy=st.booleans(),
        cached_images=st.frozensets(images, max_size=2),
    ),
    max_size=12,
    unique_by=lambda c: c.host_id,
)
needs = st.builds(Need, cpu_units=st.integers(0, 4096), memory_mb=st.integers(0, 8192),
                  image=images, require_cached=st.booleans())


def model(cands: list[Candidate], users: list[Point], need: Need) -> Candidate | None:
    """Every fitting host scored by brute force; the smallest (distance, id) wins."""
    def score(c: Candidate) -> tuple[float, str]:
        if c.point is None:
            return (math.inf, c.host_id)
        return (sum(distance_km(c.point, u) for u in users) / len(users), c.host_id)

    fitting = sorted((c for c in cands if c.healthy and c.free_cpu_units >= need.cpu_units
                      and c.free_memory_mb >= need.memory_mb
                      and (not need.require_cached or need.image in c.cached_images)),
                     key=score)
    return fitting[0] if fitting else None


@given(candidates, st.lists(points, min_size=1, max_size=4), needs)
def test_placement_matches_the_brute_force_model(
    cands: list[Candidate], users: list[Point], need: Need
) -> None:
    assert place(cands, users, need) == model(cands, users, need)


@given(candidates, st.lists(points, min_size=1, max_size=3), needs, st.data())
def test_preferred_hosts_come_first_in_their_order(
    cands: list[Candidate], users: list[Point], need: Need, data: st.DataObject
) -> None:
    ids = [c.host_id for c in cands]
    preferred = tuple(data.draw(st.lists(st.sampled_from(ids), unique=True))) if ids else ()
    need = Need(need.cpu_units, need.memory_mb, need.image, need.require_cached, preferred)
    chosen = place(cands, users, need)
    by_id = {c.host_id: c for c in cands}
    first_fitting = next((by_id[h] for h in preferred if fits(by_id[h], need)), None)
    if first_fitting is not None:
        assert chosen == first_fitting
    else:
        assert chosen == model(cands, users, need)  # overflow to the rest


def test_distance_is_the_great_circle() -> None:
    montreal, paris = Point(45.5017, -73.5673), Point(48.8566, 2.3522)
    assert abs(distance_km(montreal, paris) - 5510) < 15  # about 5,510 km
    assert distance_km(paris, paris) == 0


def test_nearest_to_all_users_on_average() -> None:
    east = Candidate("east", Point(40.7, -74.0), 1024, 1024)
    west = Candidate("west", Point(37.8, -122.4), 1024, 1024)
    need = Need(512, 512, "game:1")
    assert place([east, west], [Point(42.4, -71.1)], need) == east
    assert place([east, west], [Point(47.6, -122.3), Point(34.1, -118.2)], need) == west
    assert place([east, west], [Point(0, 0)], Need(2048, 512, "game:1")) is None


@given(st.none() | points, st.lists(points, max_size=4))
def test_mean_distance_is_exactly_the_mean_of_great_circles(
    point: Point | None, users: list[Point]
) -> None:
    """The fast path shares distance_km's arithmetic: equal floats, so an equal order."""
    expected = (math.inf if point is None or not users
                else sum(distance_km(point, u) for u in users) / len(users))
    assert mean_distance(Candidate("h", point, 0, 0), users) == expected


@given(candidates, st.lists(points, min_size=1, max_size=3), st.data())
def test_ranking_lists_every_host_once_preferred_first(
    cands: list[Candidate], users: list[Point], data: st.DataObject
) -> None:
    ids = [c.host_id for c in cands]
    preferred = data.draw(st.lists(st.sampled_from(ids) | st.just("gone"))) if ids else []
    ranked = ranking(cands, users, preferred)
    assert sorted(c.host_id for c in ranked) == sorted(ids)
    known = [h for h in dict.fromkeys(preferred) if h in ids]
    assert [c.host_id for c in ranked[:len(known)]] == known
    rest = ranked[len(known):]
    keys = [(mean_distance(c, users), c.host_id) for c in rest]
    assert keys == sorted(keys)
