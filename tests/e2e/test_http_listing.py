"""List machinery shared by every list endpoint (§0.5, §6) and the cluster list filters (E8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    add_node,
    create_cluster,
    error,
    fixed_clock,
    listed,
    names,
    page,
    running,
)

pytestmark = pytest.mark.e2e
LISTS = ["/api/v1/clusters", "/api/v1/enrollment_keys", "/api/v1/nodes", "/api/v1/aliases"]
DAY = 86_400.0


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running(max_page_size=5) as c:
        yield c


def get(client: TestClient, path: str, **params: Any) -> Any:
    return client.get(path, headers=AUTH, params=params)


def test_pagination_meta_walks_every_page(client: TestClient) -> None:
    for name in ("b", "c", "d", "e"):
        create_cluster(client, name)
    seen: list[str] = []
    expected: list[dict[str, Any]] = [
        {"page": 1, "has_prev": False, "prev_page": None, "has_next": True, "next_page": 2},
        {"page": 2, "has_prev": True, "prev_page": 1, "has_next": True, "next_page": 3},
        {"page": 3, "has_prev": True, "prev_page": 2, "has_next": False, "next_page": None},
    ]
    for number, want in enumerate(expected, start=1):
        response = get(client, "/api/v1/clusters", page=number, page_size=2, order_by="name")
        rows, meta = page(response)
        assert meta == {**want, "page_size": 2, "total_count": 5, "total_pages": 3}
        seen += names(rows)
    assert seen == ["b", "c", "d", "e", "main"]


def test_defaults_are_page_one_of_twenty() -> None:
    with running() as client:
        rows, meta = page(get(client, "/api/v1/clusters"))
        assert len(rows) == 1
        assert meta["page"] == 1 and meta["page_size"] == 20 and meta["total_count"] == 1
        assert meta["total_pages"] == 1 and meta["has_next"] is False and meta["next_page"] is None


def test_page_beyond_range_is_empty(client: TestClient) -> None:
    rows, meta = page(get(client, "/api/v1/clusters", page=7, page_size=2))
    assert rows == []
    assert meta["page"] == 7 and meta["total_count"] == 1 and meta["has_next"] is False
    assert meta["next_page"] is None


@pytest.mark.parametrize("path", LISTS)
def test_empty_list(client: TestClient, path: str) -> None:
    if path == "/api/v1/clusters":
        client.delete("/api/v1/clusters/main", headers=AUTH)
    rows, meta = page(get(client, path))
    assert rows == [] and meta["total_count"] == 0 and meta["has_next"] is False


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 6}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "x"}, "page"),
        ({"order_by": "no_such_field"}, "order_by"),
        ({"order_by": "inserted_at", "order_directions": "asc,desc"}, "order_directions"),
        ({"order_directions": "desc"}, "order_directions"),
        ({"order_by": "inserted_at", "order_directions": "sideways"}, "order_directions"),
        ({"bogus": "1"}, "bogus"),
        ({"inserted_at__gte": "yesterday"}, "inserted_at__gte"),
        ({"updated_at__lte": "2026-02-30"}, "updated_at__lte"),
        ({"inserted_at__gt": "2026-01-01"}, "inserted_at__gt"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    details = error(get(client, path, **params), 400, "bad_request", {field})
    assert set(details) == {field}


def test_page_size_at_the_cap_is_fine(client: TestClient) -> None:
    _, meta = page(get(client, "/api/v1/clusters", page_size=5))
    assert meta["page_size"] == 5


def test_default_cap_is_enforced_too() -> None:
    with running() as client:
        error(get(client, "/api/v1/nodes", page_size=101), 400, "bad_request", {"page_size"})
        page(get(client, "/api/v1/nodes", page_size=100))


def test_every_problem_is_reported_at_once(client: TestClient) -> None:
    details = error(get(client, "/api/v1/clusters", bogus=1, page_size=0, has_node_limit="maybe"),
                    400, "bad_request")
    assert set(details) == {"bogus", "page_size", "has_node_limit"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"has_node_limit": "maybe"}, "has_node_limit"),
        ({"node_limit": "one"}, "node_limit"),
        ({"node_limit__gte": "1.5"}, "node_limit__gte"),
        ({"node_count__lte": "many"}, "node_count__lte"),
        ({"node_count": 1}, "node_count"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_cluster_filters_are_400(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    error(get(client, "/api/v1/clusters", **params), 400, "bad_request", {field})


def _fleet(client: TestClient) -> None:
    create_cluster(client, "prod-east", node_limit=5, ipv4_range="100.64.10.0/24")
    create_cluster(client, "prod-west", node_limit=2, ipv4_range="100.64.11.0/24")
    create_cluster(client, "staging", ipv4_range="10.1.0.0/16")
    add_node(client, "prod-east")
    add_node(client, "prod-east")
    add_node(client, "staging")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "prod-east"}, ["prod-east"]),
        ({"name": "prod"}, []),
        ({"name": "prod*"}, ["prod-east", "prod-west"]),
        ({"name": "*ing"}, ["staging"]),
        ({"name": "*o*"}, ["prod-east", "prod-west"]),
        ({"name": "*"}, ["main", "prod-east", "prod-west", "staging"]),
        ({"name": "PROD*"}, []),
        ({"ipv4_range": "10.1.0.0/16"}, ["staging"]),
        ({"ipv4_range": "100.64.1*"}, ["prod-east", "prod-west"]),
        ({"has_node_limit": "true"}, ["prod-east", "prod-west"]),
        ({"has_node_limit": "false"}, ["main", "staging"]),
        ({"node_limit": 2}, ["prod-west"]),
        ({"node_limit__gte": 3}, ["prod-east"]),
        ({"node_limit__lte": 5}, ["prod-east", "prod-west"]),
        ({"node_count__gte": 1}, ["prod-east", "staging"]),
        ({"node_count__lte": 0}, ["main", "prod-west"]),
        ({"node_count__gte": 1, "node_count__lte": 1}, ["staging"]),
        ({"name": "prod*", "has_node_limit": "true", "node_count__gte": 2}, ["prod-east"]),
    ],
)
def test_cluster_filters(params: dict[str, Any], expected: list[str]) -> None:
    with running() as client:
        _fleet(client)
        assert names(listed(client, "/api/v1/clusters", order_by="name", **params)) == expected


def test_cluster_filters_and_sorting_on_every_store(any_url: str) -> None:
    with running(any_url) as client:
        _fleet(client)
        by = "/api/v1/clusters"
        prod = listed(client, by, name="prod*", order_by="name")
        assert names(prod) == ["prod-east", "prod-west"]
        assert names(listed(client, by, ipv4_range="*/16")) == ["staging"]
        assert names(listed(client, by, has_node_limit="false", order_by="name")) == [
            "main", "staging"]
        assert names(listed(client, by, node_count__gte=1, node_limit__lte=5)) == ["prod-east"]
        assert names(listed(client, by, order_by="name", order_directions="desc")) == [
            "staging", "prod-west", "prod-east", "main"]
        rows = listed(client, by, order_by="node_count,name", order_directions="desc,asc")
        assert names(rows) == ["prod-east", "staging", "main", "prod-west"]


@pytest.mark.parametrize("direction", ["asc", "desc", "ASC", "Desc"])
def test_sort_direction(direction: str) -> None:
    with running() as client:
        _fleet(client)
        rows = listed(client, "/api/v1/clusters", order_by="name", order_directions=direction)
        expected = sorted(names(rows), reverse=direction.lower() == "desc")
        assert names(rows) == expected and len(rows) == 4


def test_missing_directions_default_to_ascending() -> None:
    with running() as client:
        _fleet(client)
        rows = listed(client, "/api/v1/clusters", order_by="node_count,name",
                      order_directions="desc")
        assert names(rows) == ["prod-east", "staging", "main", "prod-west"]
        rows = listed(client, "/api/v1/clusters", order_by="ipv4_range")
        assert [r["ipv4_range"] for r in rows] == sorted(r["ipv4_range"] for r in rows)


def test_date_filters_use_start_and_end_of_day(any_url: str) -> None:
    clock = fixed_clock()
    with running(any_url, clock=clock, heartbeat_interval=3600.0) as client:
        create_cluster(client, "day-one")
        clock.advance(DAY)
        create_cluster(client, "day-two")
        by = "/api/v1/clusters"
        assert names(listed(client, by, inserted_at__lte="2026-01-01", order_by="name")) == [
            "day-one", "main"]
        assert names(listed(client, by, inserted_at__gte="2026-01-02")) == ["day-two"]
        assert names(listed(client, by, inserted_at__gte="2026-01-01",
                            inserted_at__lte="2026-01-01", order_by="name")) == ["day-one", "main"]
        assert names(listed(client, by, inserted_at__gte="2026-01-02T12:00:00Z")) == ["day-two"]
        assert names(listed(client, by, inserted_at__gte="2026-01-02T12:00:00.000001Z")) == []
        assert names(listed(client, by, inserted_at__lte="2026-01-02T13:00:00+02:00",
                            order_by="name")) == ["day-one", "main"]
        assert names(listed(client, by, inserted_at__gte="2026-01-02T12:00:00")) == ["day-two"]
        raw, _ = page(client.get(f"{by}?inserted_at__gte=2026-01-02T13:00:00+01:00", headers=AUTH))
        assert names(raw) == ["day-two"]
        clock.advance(DAY)
        client.patch("/api/v1/clusters/day-one", headers=AUTH, json={"node_limit": 1})
        assert names(listed(client, by, updated_at__gte="2026-01-03")) == ["day-one"]
        assert names(listed(client, by, updated_at__lte="2026-01-02", order_by="name")) == [
            "day-two", "main"]


def test_basic_format_dates_are_date_only_too() -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=3600.0) as client:
        response = get(client, "/api/v1/clusters", inserted_at__lte="20260101")
        if response.status_code != 400:
            assert names(page(response)[0]) == ["main"]
