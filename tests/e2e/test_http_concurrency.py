"""Uniqueness and counting rules hold when requests race (use counts, limits, names)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.test_http_support import (
    AUTH,
    create_cluster,
    data,
    issue_key,
    listed,
    names,
    running,
)

pytestmark = pytest.mark.e2e
RACERS = 8


def race(call: Callable[[int], Any]) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        return Counter(r.status_code for r in pool.map(call, range(RACERS)))


def test_a_key_is_never_used_more_often_than_allowed(any_url: str) -> None:
    with running(any_url) as client:
        key = issue_key(client, "main", uses_remaining=3)

        def enroll(_: int) -> Any:
            return client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})

        assert race(enroll) == Counter({201: 3, 403: RACERS - 3})
        after = data(client.get(f"/api/v1/enrollment_keys/{key['id']}", headers=AUTH))
        assert after["uses_remaining"] == 0
        assert data(client.get("/api/v1/clusters/main", headers=AUTH))["node_count"] == 3
        assert len(listed(client, "/api/v1/nodes")) == 3


def test_node_limit_holds_under_racing_enrollments(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "capped", node_limit=2)
        key = issue_key(client, "capped", uses_remaining=None)

        def enroll(_: int) -> Any:
            return client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})

        assert race(enroll) == Counter({201: 2, 409: RACERS - 2})
        capped = data(client.get("/api/v1/clusters/capped", headers=AUTH))
        assert capped["node_count"] == 2 and len(capped["nodes"]) == 2


def test_only_one_cluster_wins_a_name(any_url: str) -> None:
    with running(any_url) as client:

        def create(i: int) -> Any:
            return client.post("/api/v1/clusters", headers=AUTH, json={"name": "contested"})

        assert race(create) == Counter({201: 1, 409: RACERS - 1})
        assert names(listed(client, "/api/v1/clusters", name="contested")) == ["contested"]


def test_auto_ranges_never_collide(any_url: str) -> None:
    with running(any_url) as client:

        def create(i: int) -> Any:
            return client.post("/api/v1/clusters", headers=AUTH, json={"name": f"par-{i}"})

        assert race(create) == Counter({201: RACERS})
        ranges = [c["ipv4_range"] for c in listed(client, "/api/v1/clusters", name="par-*")]
        assert len(ranges) == RACERS == len(set(ranges))


def test_alias_names_stay_unique_per_cluster(any_url: str) -> None:
    with running(any_url) as client:
        key = issue_key(client, "main", uses_remaining=None)
        node_ids = [
            data(client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]}), 201)[
                "node_id"]
            for _ in range(RACERS)
        ]

        def alias(i: int) -> Any:
            return client.post(f"/api/v1/nodes/{node_ids[i]}/aliases", headers=AUTH,
                               json={"name": "shared"})

        assert race(alias) == Counter({201: 1, 409: RACERS - 1})
        assert len(listed(client, "/api/v1/aliases", name="shared")) == 1
