"""Nodes.Cluster endpoints (E7, E9-E11): create, get, patch, delete."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    CLUSTER_FIELDS,
    add_node,
    create_cluster,
    data,
    error,
    listed,
    names,
    parse_ts,
    running,
)

pytestmark = pytest.mark.e2e
NAME_FORMAT = "Invalid format. Expected ~r/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running(max_body_bytes=4096) as c:
        yield c


def post(client: TestClient, body: object) -> object:
    return client.post("/api/v1/clusters", headers=AUTH, json=body)


def test_create_returns_every_field_with_derived_names(client: TestClient) -> None:
    cluster = create_cluster(client, "prod-east", node_limit=50)
    assert set(cluster) == CLUSTER_FIELDS
    assert cluster["name"] == "prod-east"
    assert cluster["network_name"] == "cluster-prod-east"
    assert cluster["vpn_domain"] == "cluster-prod-east.nm.internal"
    assert cluster["node_count"] == 0 and cluster["nodes"] == []
    assert cluster["node_limit"] == 50
    assert parse_ts(cluster["inserted_at"]) == parse_ts(cluster["updated_at"])
    assert data(client.get("/api/v1/clusters/prod-east", headers=AUTH)) == cluster


def test_auto_ipv4_ranges_are_distinct_cgnat_blocks(client: TestClient) -> None:
    ranges = [create_cluster(client, f"c{i}")["ipv4_range"] for i in range(3)]
    ranges.append(data(client.get("/api/v1/clusters/main", headers=AUTH))["ipv4_range"])
    nets = [ipaddress.IPv4Network(r) for r in ranges]
    assert all(n.subnet_of(ipaddress.IPv4Network("100.64.0.0/10")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    explicit_null = create_cluster(client, "nullrange", ipv4_range=None)
    assert ipaddress.IPv4Network(explicit_null["ipv4_range"]).prefixlen == 24


def test_explicit_range_is_kept_and_auto_allocation_skips_it(client: TestClient) -> None:
    assert create_cluster(client, "manual", ipv4_range="100.64.1.0/24")["ipv4_range"] == (
        "100.64.1.0/24"
    )
    auto = ipaddress.IPv4Network(create_cluster(client, "auto")["ipv4_range"])
    assert not auto.overlaps(ipaddress.IPv4Network("100.64.1.0/24"))
    assert create_cluster(client, "ten", ipv4_range="10.20.0.0/16")["ipv4_range"] == "10.20.0.0/16"


@pytest.mark.parametrize("overlap", ["100.64.1.0/24", "100.64.1.128/25", "100.64.0.0/16"])
def test_overlapping_range_is_a_conflict(client: TestClient, overlap: str) -> None:
    create_cluster(client, "manual", ipv4_range="100.64.1.0/24")
    error(post(client, {"name": "clash", "ipv4_range": overlap}), 409, "conflict", {"ipv4_range"})
    assert "clash" not in names(listed(client, "/api/v1/clusters"))


def test_duplicate_name_is_a_conflict(client: TestClient) -> None:
    create_cluster(client, "twice")
    error(post(client, {"name": "twice"}), 409, "conflict", {"name"})
    error(post(client, {"name": "main"}), 409, "conflict", {"name"})
    assert names(listed(client, "/api/v1/clusters", name="twice")) == ["twice"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "default"}, {"name"}),
        ({"name": "Upper"}, {"name"}),
        ({"name": "-lead"}, {"name"}),
        ({"name": "trail-"}, {"name"}),
        ({"name": "under_score"}, {"name"}),
        ({"name": "x" * 25}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"name": 7}, {"name"}),
        ({}, {"name"}),
        ({"name": "ok", "node_limit": 0}, {"node_limit"}),
        ({"name": "ok", "node_limit": -3}, {"node_limit"}),
        ({"name": "ok", "node_limit": "5"}, {"node_limit"}),
        ({"name": "ok", "ipv4_range": "not-a-cidr"}, {"ipv4_range"}),
        ({"name": "ok", "ipv4_range": "100.64.1.0"}, {"ipv4_range"}),
        ({"name": "ok", "ipv4_range": "300.64.1.0/24"}, {"ipv4_range"}),
        ({"name": "ok", "ipv4_range": "100.64.1.7/24"}, {"ipv4_range"}),
        ({"name": "ok", "surprise": 1}, {"surprise"}),
    ],
)
def test_invalid_bodies_are_422_with_details_per_field(
    client: TestClient, body: dict[str, object], fields: set[str]
) -> None:
    error(post(client, body), 422, "validation_failed", fields)
    assert names(listed(client, "/api/v1/clusters")) == ["main"]


def test_422_messages_follow_the_seed(client: TestClient) -> None:
    assert error(post(client, {"name": "Bad"}), 422, "validation_failed") == {"name": [NAME_FORMAT]}
    assert error(post(client, {}), 422, "validation_failed") == {"name": ["can't be blank"]}
    too_long = error(post(client, {"name": "a" * 25}), 422, "validation_failed")
    assert too_long == {"name": ["should be at most 24 character(s)"]}


def test_longest_legal_name_is_accepted(client: TestClient) -> None:
    assert create_cluster(client, "a" * 24)["name"] == "a" * 24


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"name": "x",}', "is not valid JSON"),
        # A wrong field before the end that breaks it: still no JSON (it answered 422).
        (b'{"a": 1', "is not valid JSON"),
        (b'{"name": 5', "is not valid JSON"),
        (b"{}x", "is not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"name"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ],
)
def test_unparseable_bodies_are_400(client: TestClient, raw: bytes, message: str) -> None:
    response = client.post("/api/v1/clusters", headers=AUTH, content=raw)
    assert error(response, 400, "bad_request") == {"body": [message]}


def test_oversize_body_is_400(client: TestClient) -> None:
    body = b'{"name": "big", "ipv4_range": "' + b"1" * 5000 + b'"}'
    response = client.post("/api/v1/clusters", headers=AUTH, content=body)
    error(response, 400, "bad_request", {"body"})
    assert "big" not in names(listed(client, "/api/v1/clusters"))


def test_get_unknown_is_404_and_bad_name_is_400(client: TestClient) -> None:
    assert error(client.get("/api/v1/clusters/nope", headers=AUTH), 404, "not_found") is None
    for bad in ("UPPER", "a_b", "-x", "x" * 25):
        details = error(client.get(f"/api/v1/clusters/{bad}", headers=AUTH), 400, "bad_request")
        assert details == {"name": [NAME_FORMAT]}


def test_patch_node_limit_omit_keeps_and_null_clears(client: TestClient) -> None:
    before = create_cluster(client, "lim")
    path = "/api/v1/clusters/lim"
    set_ = data(client.patch(path, headers=AUTH, json={"node_limit": 5}))
    assert set_["node_limit"] == 5
    assert parse_ts(set_["updated_at"]) > parse_ts(before["updated_at"])
    assert set_["inserted_at"] == before["inserted_at"]
    assert set_["ipv4_range"] == before["ipv4_range"]
    assert listed(client, "/api/v1/clusters", name="lim")[0]["node_limit"] == 5
    assert data(client.patch(path, headers=AUTH, json={}))["node_limit"] == 5
    assert data(client.patch(path, headers=AUTH))["node_limit"] == 5
    assert data(client.patch(path, headers=AUTH, json={"node_limit": None}))["node_limit"] is None
    assert listed(client, "/api/v1/clusters", name="lim")[0]["node_limit"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"node_limit": 0}, "node_limit"),
        ({"node_limit": "3"}, "node_limit"),
        ({"name": "renamed"}, "name"),
        ({"ipv4_range": "100.64.9.0/24"}, "ipv4_range"),
    ],
)
def test_patch_rejects_bad_bodies(client: TestClient, body: dict[str, object], field: str) -> None:
    create_cluster(client, "lim", node_limit=2)
    error(client.patch("/api/v1/clusters/lim", headers=AUTH, json=body), 422, "validation_failed",
          {field})
    assert data(client.get("/api/v1/clusters/lim", headers=AUTH))["node_limit"] == 2


def test_patch_errors_for_unknown_bad_name_and_bad_json(client: TestClient) -> None:
    error(client.patch("/api/v1/clusters/nope", headers=AUTH, json={"node_limit": 1}), 404,
          "not_found")
    error(client.patch("/api/v1/clusters/NOPE", headers=AUTH, json={"node_limit": 1}), 400,
          "bad_request", {"name"})
    error(client.patch("/api/v1/clusters/main", headers=AUTH, content=b"{oops"), 400, "bad_request",
          {"body"})


def test_node_limit_cannot_drop_below_node_count(client: TestClient) -> None:
    create_cluster(client, "busy")
    for _ in range(2):
        add_node(client, "busy")
    path = "/api/v1/clusters/busy"
    error(client.patch(path, headers=AUTH, json={"node_limit": 1}), 422, "validation_failed",
          {"node_limit"})
    assert data(client.patch(path, headers=AUTH, json={"node_limit": 2}))["node_limit"] == 2


def test_responses_carry_node_count_and_node_summaries(client: TestClient) -> None:
    create_cluster(client, "fleet")
    ids = sorted(add_node(client, "fleet", id_type="random") for _ in range(2))
    cluster = data(client.get("/api/v1/clusters/fleet", headers=AUTH))
    assert cluster["node_count"] == 2
    assert sorted(n["id"] for n in cluster["nodes"]) == ids
    for summary in cluster["nodes"]:
        assert set(summary) == {"id", "id_type", "status", "vpn_hostname"}
        assert summary["id_type"] == "random" and summary["status"] == "healthy"
        assert summary["vpn_hostname"] == f"node-{summary['id']}.cluster-fleet.nm.internal"
    listed_cluster = listed(client, "/api/v1/clusters", name="fleet")[0]
    assert listed_cluster == cluster


def test_delete_empty_cluster_then_404_and_name_reusable(client: TestClient) -> None:
    create_cluster(client, "temp", ipv4_range="100.64.200.0/24")
    response = client.delete("/api/v1/clusters/temp", headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    error(client.get("/api/v1/clusters/temp", headers=AUTH), 404, "not_found")
    error(client.delete("/api/v1/clusters/temp", headers=AUTH), 404, "not_found")
    assert "temp" not in names(listed(client, "/api/v1/clusters"))
    again = create_cluster(client, "temp", ipv4_range="100.64.200.0/24")
    assert again["ipv4_range"] == "100.64.200.0/24"


def test_delete_errors(client: TestClient) -> None:
    create_cluster(client, "occupied")
    add_node(client, "occupied")
    error(client.delete("/api/v1/clusters/occupied", headers=AUTH), 409, "conflict")
    assert data(client.get("/api/v1/clusters/occupied", headers=AUTH))["node_count"] == 1
    error(client.delete("/api/v1/clusters/nope", headers=AUTH), 404, "not_found")
    error(client.delete("/api/v1/clusters/Bad_Name", headers=AUTH), 400, "bad_request", {"name"})


def test_cluster_read_your_writes(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "rw", ipv4_range="100.64.50.0/24")
        assert listed(client, "/api/v1/clusters", name="rw")[0]["ipv4_range"] == "100.64.50.0/24"
        client.patch("/api/v1/clusters/rw", headers=AUTH, json={"node_limit": 9})
        assert listed(client, "/api/v1/clusters", name="rw")[0]["node_limit"] == 9
        client.patch("/api/v1/clusters/rw", headers=AUTH, json={"node_limit": None})
        assert listed(client, "/api/v1/clusters", has_node_limit="false", name="rw") != []
        assert client.delete("/api/v1/clusters/rw", headers=AUTH).status_code == 204
        assert listed(client, "/api/v1/clusters", name="rw") == []
