"""Admins.* endpoints, the degraded switch, admin metrics, /metrics and /readyz, in-process."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.e2e.test_http_support import AUTH, add_node, create_cluster, data, enroll, running

pytestmark = pytest.mark.e2e
FAST: dict[str, Any] = {"admin_checkin_interval": 0.1, "admin_offline_after": 1.0}
GATED = [
    ("POST", "/api/v1/clusters", {"name": "more"}),
    ("PATCH", "/api/v1/clusters/main", {"node_limit": 50}),
    ("DELETE", "/api/v1/clusters/main", None),
    ("POST", "/api/v1/clusters/main/enrollment_keys", {}),
    ("POST", "/api/v1/clusters/default/enrollment_keys", {}),
    ("POST", "/api/v1/clusters/default/enrollment_keys/public", {}),
    ("PATCH", "/api/v1/enrollment_keys/{key}", {"name": "x"}),
    ("DELETE", "/api/v1/enrollment_keys/{key}", None),
    ("DELETE", "/api/v1/nodes/{node}", None),
    ("PATCH", "/api/v1/nodes/{node}/change_cluster", {"cluster_name": "main"}),
]


def get(client: TestClient, path: str) -> Any:
    return data(client.get(path, headers=AUTH))


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    return result


def test_a_single_admin_describes_itself_and_owns_every_cluster(any_url: str) -> None:
    with running(any_url, admin_id="k7m3n2p9x4j6", admin_max_peers=250, **FAST) as client:
        create_cluster(client, "edge")
        nodes = sorted(add_node(client, "edge") for _ in range(2))
        me = get(client, "/api/v1/admins/me")
        assert me["id"] == "k7m3n2p9x4j6" and me["name"] == "admin-k7m3n2p9x4j6"
        assert me["vpn_hostname"] == "admin-k7m3n2p9x4j6.admin-cluster-main.nm.internal"
        assert me["erlang_node_name"] == "admin@" + me["vpn_hostname"]
        assert (me["admin_peer_count"], me["edge_node_capacity"], me["max_wireguard_peers"]) \
            == (0, 250, 250)
        cluster = get(client, "/api/v1/admins/my_admin_cluster")
        assert cluster["total_admins"] == 1 and cluster["total_nodes"] == 2
        assert cluster["weak_leader"] == "admin-k7m3n2p9x4j6" and cluster["degraded"] is False
        assert [t["name"] for t in cluster["topology"]] == ["admin-k7m3n2p9x4j6"]
        [admin_cluster] = get(client, "/api/v1/admins/admin_clusters")
        assert admin_cluster["name"] == "admin-cluster-main"
        assert [(a["name"], a["status"]) for a in admin_cluster["admins"]] == [
            ("admin-k7m3n2p9x4j6", "online")]
        shards = get(client, "/api/v1/admins/edge_clusters")
        assert list(shards) == ["admin-k7m3n2p9x4j6"]
        mine = shards["admin-k7m3n2p9x4j6"]
        assert sorted(mine["cluster-edge"]) == nodes and mine["cluster-main"] == []
        assert get(client, "/api/v1/admins/orphaned_clusters") == {}


def test_degraded_mode_refuses_the_gated_writes_and_ends_with_more_capacity(
    sqlite_url: str,
) -> None:
    with running(sqlite_url, admin_max_peers=2, **FAST) as client:
        key = data(client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH,
                               json={"uses_remaining": None}), 201)
        nodes = [enroll(client, key["key"])["node_id"] for _ in range(3)]
        wait_for(lambda: get(client, "/api/v1/admins/my_admin_cluster")["degraded"])
        orphaned = get(client, "/api/v1/admins/orphaned_clusters")
        assert sorted(orphaned["cluster-main"]) == sorted(nodes)
        for method, path, body in GATED:
            url = path.format(key=key["id"], node=nodes[0])
            response = client.request(method, url, headers=AUTH, json=body)
            assert response.status_code == 503, (method, url, response.text)
            error = response.json()["error"]
            assert error["code"] == "service_unavailable" and "degraded" in error["message"]
        # Reads and ungated writes go on.
        assert get(client, f"/api/v1/nodes/{nodes[0]}")["id"] == nodes[0]
        alias = client.post(f"/api/v1/nodes/{nodes[0]}/aliases", headers=AUTH,
                            json={"name": "still-works"})
        assert alias.status_code == 201, alias.text
        assert get(client, "/api/v1/admins/me/metrics")["metadata"]["degraded"] is True
    with running(sqlite_url, admin_max_peers=10, **FAST) as client:
        assert get(client, "/api/v1/admins/my_admin_cluster")["degraded"] is False
        created = client.post("/api/v1/clusters", headers=AUTH, json={"name": "more"})
        assert created.status_code == 201, created.text


def test_admin_metrics_count_what_this_process_did() -> None:
    with running(**FAST) as client:
        node = enroll(client, data(client.post("/api/v1/clusters/main/enrollment_keys",
                                               headers=AUTH, json={}), 201)["key"])
        token = {"Authorization": f"Bearer {node['api_token']}"}
        for _ in range(3):
            assert client.post("/agent/v1/heartbeat", headers=token, json={}).status_code == 200
        verdict = data(client.post("/agent/v1/ssh/verify", headers=token,
                                   json={"username": "nobody", "method": "password",
                                         "password": "x" * 12}))
        assert verdict["allowed"] is False
        metrics = wait_for(lambda: (m := get(client, "/api/v1/admins/me/metrics"))
                           ["event_broker"]["publishes_ok_total"] > 0 and m)
        assert metrics["nodes"]["health_checks_total"] == 3
        assert metrics["ssh"] == {"verifications_failed": 1, "verifications_total": 1}
        assert metrics["membership"]["complete_total"] == 1
        assert metrics["metadata"]["assigned_clusters"] == 1
        assert metrics["application"]["memory_total_bytes"] > 0
        assert metrics["application"]["atom_count"] is None  # no BEAM here
        assert metrics["proxy"]["connections_total"] is None  # no admin proxy
        assert metrics["event_broker"]["enabled"] is True
        assert {"queue", "available", "completed"} <= set(metrics["oban_queues"][0])


NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def test_prometheus_metrics_parse_and_time_requests_by_route() -> None:
    with running(**FAST) as client:
        add_node(client)
        for _ in range(2):
            get(client, "/api/v1/clusters/main")
        assert client.get("/api/v1/nope", headers=AUTH).status_code == 404
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in families:
        assert NAME.match(name) and name.startswith("edge_admin_"), name
    latency = families["edge_admin_http_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = {(s.labels["method"], s.labels["route"]): s.value for s in latency.samples
              if s.name.endswith("_count")}
    assert counts[("GET", "/api/v1/clusters/{name}")] == 2
    assert counts[("GET", "unmatched")] == 1
    requests = families["edge_admin_http_requests"]
    assert requests.type == "counter"
    assert any(s.labels.get("status") == "404" for s in requests.samples)
    assert families["edge_admin_nodes"].samples[0].value == 1
    assert families["edge_admin_nodes_health_checks"].type == "counter"
    assert "edge_admin_process_resident_memory_bytes" in families


def test_readiness_checks_the_database_and_the_broker(pg_url: str) -> None:
    with running(pg_url, **FAST) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {
            "database": "ok", "broker": "ok (in-process bus)", "projections": "ok",
            "secrets": "ok"}}
        assert client.get("/healthz").json() == {"status": "ok"}
