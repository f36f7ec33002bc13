"""Nodes.Node endpoints (E19-E22): list filters, get, delete, change_cluster."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    NODE_FIELDS,
    add_node,
    create_cluster,
    data,
    enroll,
    error,
    fixed_clock,
    get_node,
    issue_key,
    listed,
    names,
    running,
)

pytestmark = pytest.mark.e2e
DAY = 86_400.0
PORTS = {"http_port": 44000, "http_proxy_port": 44880, "socks5_proxy_port": 44180,
         "ssh_port": 42222, "host_metrics_port": 49100, "wireguard_metrics_port": 49586}


def move(client: TestClient, node_id: str, body: object) -> Any:
    return client.patch(f"/api/v1/nodes/{node_id}/change_cluster", headers=AUTH, json=body)


def test_get_returns_every_field_with_derived_names() -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=3600.0) as client:
        agent = enroll(client, issue_key(client, "main")["key"], version="0.1.0",
                       self_update_enabled=True, ports={"ssh_port": 2022, "http_port": 45000})
        node_id = agent["node_id"]
        node = get_node(client, node_id)
        assert set(node) == NODE_FIELDS
        assert node["id"] == node_id and node["id_type"] == "random"
        assert node["node_name"] == f"node-{node_id}"
        assert node["mdns_hostname"] == f"node-{node_id}.local"
        assert node["vpn_hostname"] == f"node-{node_id}.cluster-main.nm.internal"
        assert node["cluster_name"] == "main" and node["status"] == "healthy"
        assert node["version"] == "0.1.0" and node["self_update_enabled"] is True
        assert node["api_token"] == agent["api_token"]
        assert isinstance(node["proxy_password"], str) and len(node["proxy_password"]) >= 16
        assert node["netmaker_host_id"] is None
        assert {p: node[p] for p in PORTS} == {**PORTS, "ssh_port": 2022, "http_port": 45000}
        assert node["last_seen_at"] == node["inserted_at"] == "2026-01-01T12:00:00Z"
        assert listed(client, "/api/v1/nodes") == [node]


def test_defaults_when_the_agent_reports_nothing() -> None:
    with running() as client:
        node = get_node(client, add_node(client))
        assert {p: node[p] for p in PORTS} == PORTS
        assert node["version"] is None and node["self_update_enabled"] is False


def test_get_errors() -> None:
    with running() as client:
        error(client.get(f"/api/v1/nodes/{MISSING}", headers=AUTH), 404, "not_found")
        error(client.get("/api/v1/nodes/node-1", headers=AUTH), 400, "bad_request", {"id"})


def _fleet(client: TestClient, clock: Any) -> dict[str, str]:
    create_cluster(client, "prod-east")
    create_cluster(client, "prod-west")
    nodes = {
        "a": add_node(client, "prod-east", version="1.0.0", id_type="persistent",
                      node_id="aaaaaaaa-0000-4000-8000-000000000001"),
        "b": add_node(client, "prod-west", version="1.2.3", self_update_enabled=True),
    }
    clock.advance(DAY)
    nodes["c"] = add_node(client, "main", version="11.0.0", self_update_enabled=True)
    nodes["d"] = add_node(client, "main", version="2.1.0")
    nodes["e"] = add_node(client, "prod-east")
    return nodes


CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"a", "b", "c", "d", "e"}),
    ({"cluster_name": "prod-east"}, {"a", "e"}),
    ({"cluster_name": "prod*"}, {"a", "b", "e"}),
    ({"cluster_name": "*west"}, {"b"}),
    ({"cluster_name": "prod"}, set()),
    ({"status": "healthy"}, {"a", "b", "c", "d", "e"}),
    ({"status": "unreachable"}, set()),
    ({"id_type": "persistent"}, {"a"}),
    ({"id_type": "random"}, {"b", "c", "d", "e"}),
    ({"version": "1.0.0"}, {"a"}),
    ({"version": "1.*"}, {"a", "b"}),
    ({"version": "*.0"}, {"a", "c", "d"}),
    ({"version": "*1*"}, {"a", "b", "c", "d"}),
    ({"version": "1"}, set()),
    ({"self_update_enabled": "true"}, {"b", "c"}),
    ({"self_update_enabled": "false"}, {"a", "d", "e"}),
    ({"last_seen_at__lte": "2026-01-01"}, {"a", "b"}),
    ({"last_seen_at__gte": "2026-01-02"}, {"c", "d", "e"}),
    ({"last_seen_at__gte": "2026-01-02T12:00:00.000001Z"}, set()),
    ({"inserted_at__gte": "2026-01-02", "cluster_name": "main"}, {"c", "d"}),
    ({"cluster_name": "prod*", "self_update_enabled": "false", "id_type": "random"}, {"e"}),
]


def test_list_filters_on_every_store(any_url: str) -> None:
    clock = fixed_clock()
    with running(any_url, clock=clock, heartbeat_interval=3600.0) as client:
        nodes = _fleet(client, clock)
        label = {v: k for k, v in nodes.items()}
        for params, expected in CASES:
            got = [label[n["id"]] for n in listed(client, "/api/v1/nodes", **params)]
            assert sorted(got) == sorted(expected), params


@pytest.mark.parametrize(
    ("order_by", "directions", "field", "expected"),
    [
        ("version", "asc", "version", ["1.0.0", "1.2.3", "11.0.0", "2.1.0", None]),
        ("version", "desc", "version", [None, "2.1.0", "11.0.0", "1.2.3", "1.0.0"]),
        ("cluster_name", "asc", "cluster_name",
         ["main", "main", "prod-east", "prod-east", "prod-west"]),
        ("last_seen_at", "desc", "last_seen_at",
         ["2026-01-02T12:00:00Z"] * 3 + ["2026-01-01T12:00:00Z"] * 2),
    ],
)
def test_sorting(order_by: str, directions: str, field: str, expected: list[Any]) -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=3600.0) as client:
        _fleet(client, clock)
        rows = listed(client, "/api/v1/nodes", order_by=order_by, order_directions=directions)
        assert names(rows, field) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sick"}, "status"),
        ({"id_type": "sticky"}, "id_type"),
        ({"self_update_enabled": "yes"}, "self_update_enabled"),
        ({"last_seen_at__gte": "noon"}, "last_seen_at__gte"),
        ({"last_seen_at__lte": "2026-02-31"}, "last_seen_at__lte"),
        ({"version": ""}, "version"),
        ({"name": "node-1"}, "name"),
        ({"order_by": "node_name"}, "order_by"),
    ],
)
def test_bad_filters_are_400(params: dict[str, str], field: str) -> None:
    with running() as client:
        error(client.get("/api/v1/nodes", headers=AUTH, params=params), 400, "bad_request", {field})


def test_delete_cascades_aliases_and_frees_the_slot(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "solo", node_limit=1)
        doomed = add_node(client, "solo")
        alias = data(client.post(f"/api/v1/nodes/{doomed}/aliases", headers=AUTH,
                                 json={"name": "web"}), 201)
        response = client.delete(f"/api/v1/nodes/{doomed}", headers=AUTH)
        assert response.status_code == 204 and response.content == b""
        error(client.get(f"/api/v1/nodes/{doomed}", headers=AUTH), 404, "not_found")
        error(client.get(f"/api/v1/aliases/{alias['id']}", headers=AUTH), 404, "not_found")
        assert listed(client, "/api/v1/aliases") == [] and listed(client, "/api/v1/nodes") == []
        solo = data(client.get("/api/v1/clusters/solo", headers=AUTH))
        assert solo["node_count"] == 0 and solo["nodes"] == []
        replacement = add_node(client, "solo")
        data(client.post(f"/api/v1/nodes/{replacement}/aliases", headers=AUTH,
                         json={"name": "web"}), 201)
        error(client.delete(f"/api/v1/nodes/{doomed}", headers=AUTH), 404, "not_found")
        error(client.delete("/api/v1/nodes/xyz", headers=AUTH), 400, "bad_request", {"id"})


def test_change_cluster_moves_node_and_aliases(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "target", node_limit=1)
        node_id = add_node(client, "main")
        alias = data(client.post(f"/api/v1/nodes/{node_id}/aliases", headers=AUTH,
                                 json={"name": "api"}), 201)
        moved = data(move(client, node_id, {"cluster_name": "target"}))
        assert set(moved) == NODE_FIELDS
        assert moved["cluster_name"] == "target"
        assert moved["vpn_hostname"] == f"node-{node_id}.cluster-target.nm.internal"
        assert moved["node_name"] == f"node-{node_id}"
        assert get_node(client, node_id) == moved
        assert names(listed(client, "/api/v1/nodes", cluster_name="target"), "id") == [node_id]
        counts = {c["name"]: c["node_count"] for c in listed(client, "/api/v1/clusters")}
        assert counts == {"main": 0, "target": 1}
        after = data(client.get(f"/api/v1/aliases/{alias['id']}", headers=AUTH))
        assert after["cluster_name"] == "target"
        assert after["vpn_hostname"] == "node-api.cluster-target.nm.internal"


def test_change_cluster_errors() -> None:
    with running() as client:
        create_cluster(client, "full", node_limit=1)
        add_node(client, "full")
        node_id = add_node(client, "main")
        error(move(client, node_id, {"cluster_name": "main"}), 409, "conflict")
        error(move(client, node_id, {"cluster_name": "full"}), 409, "conflict")
        error(move(client, node_id, {"cluster_name": "nowhere"}), 404, "not_found")
        error(move(client, MISSING, {"cluster_name": "full"}), 404, "not_found")
        error(move(client, "not-a-uuid", {"cluster_name": "full"}), 400, "bad_request", {"id"})
        for body, field in [
            ({}, "cluster_name"),
            ({"cluster_name": "Bad_Name"}, "cluster_name"),
            ({"cluster_name": "x" * 25}, "cluster_name"),
            ({"cluster_name": 3}, "cluster_name"),
            ({"cluster_name": "full", "force": True}, "force"),
        ]:
            error(move(client, node_id, body), 422, "validation_failed", {field})
        bad_json = client.patch(f"/api/v1/nodes/{node_id}/change_cluster", headers=AUTH,
                                content=b"{nope")
        error(bad_json, 400, "bad_request", {"body"})
        assert get_node(client, node_id)["cluster_name"] == "main"
        counts = {c["name"]: c["node_count"] for c in listed(client, "/api/v1/clusters")}
        assert counts == {"main": 1, "full": 1}


def test_change_cluster_refuses_an_alias_name_taken_in_the_target() -> None:
    with running() as client:
        create_cluster(client, "other")
        mover, resident = add_node(client, "main"), add_node(client, "other")
        for node_id in (mover, resident):
            data(client.post(f"/api/v1/nodes/{node_id}/aliases", headers=AUTH,
                             json={"name": "db"}), 201)
        error(move(client, mover, {"cluster_name": "other"}), 409, "conflict")
        assert get_node(client, mover)["cluster_name"] == "main"
        assert sorted(names(listed(client, "/api/v1/aliases"), "cluster_name")) == ["main", "other"]
