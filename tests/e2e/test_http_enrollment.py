"""Agent enrollment with keys (§5.4), re-registration, heartbeats and the status sweeper (§5.1)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from entrypoints.workers.sweeper import sweep_once
from tests.e2e.test_http_support import (
    AUTH,
    create_cluster,
    data,
    enroll,
    error,
    fixed_clock,
    get_node,
    issue_key,
    listed,
    running,
    services_of,
)
from tests.fakes import FixedClock

pytestmark = pytest.mark.e2e
LIVENESS: dict[str, Any] = {"node_unhealthy_after": 30.0, "node_unreachable_after": 90.0,
            "heartbeat_interval": 3600.0}
PERSISTENT = "5a1e0000-0000-4000-8000-00000000beef"


def key_of(client: TestClient, key_id: str) -> dict[str, Any]:
    result: dict[str, Any] = data(client.get(f"/api/v1/enrollment_keys/{key_id}", headers=AUTH))
    return result


def agent(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def beat(client: TestClient, token: str, status: str = "healthy") -> Any:
    return client.post("/agent/v1/heartbeat", headers=agent(token), json={"status": status})


def test_enrollment_consumes_uses_until_spent(any_url: str) -> None:
    clock = fixed_clock()
    with running(any_url, clock=clock, **LIVENESS) as client:
        key = issue_key(client, "main", uses_remaining=2)
        first = enroll(client, key["key"], version="1.0.0")
        assert first["reregistered"] is False and first["cluster_name"] == "main"
        assert first["api_token"] and first["status"] == "healthy"
        assert key_of(client, key["id"])["uses_remaining"] == 1
        clock.advance(60)
        enroll(client, key["key"])
        used = key_of(client, key["id"])
        assert used["uses_remaining"] == 0 and used["last_used_at"] == "2026-01-01T12:01:00Z"
        assert [k["id"] for k in listed(client, "/api/v1/enrollment_keys", is_spent="true")] == [
            key["id"]]
        refused = client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})
        error(refused, 403, "forbidden")
        assert key_of(client, key["id"]) == used
        assert len(listed(client, "/api/v1/nodes")) == 2


def test_unlimited_key_never_runs_out() -> None:
    clock = fixed_clock()
    with running(clock=clock, **LIVENESS) as client:
        key = issue_key(client, "main", uses_remaining=None)
        for _ in range(3):
            clock.advance(10)
            enroll(client, key["key"])
        after = key_of(client, key["id"])
        assert after["uses_remaining"] is None and after["last_used_at"] == "2026-01-01T12:00:30Z"
        assert data(client.get("/api/v1/clusters/main", headers=AUTH))["node_count"] == 3


def test_spent_key_is_revived_by_patch() -> None:
    with running() as client:
        key = issue_key(client, "main")
        enroll(client, key["key"])
        again = client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})
        error(again, 403, "forbidden")
        client.patch(f"/api/v1/enrollment_keys/{key['id']}", headers=AUTH,
                     json={"uses_remaining": 1})
        enroll(client, key["key"])


def test_expired_key_is_refused_until_its_expiry_moves() -> None:
    clock = fixed_clock()
    with running(clock=clock, **LIVENESS) as client:
        key = issue_key(client, "main", uses_remaining=None, expired_at="2026-01-01T12:05:00Z")
        enroll(client, key["key"])
        assert listed(client, "/api/v1/enrollment_keys", is_expired="true") == []
        clock.advance(301)
        refused = client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})
        error(refused, 403, "forbidden")
        expired = listed(client, "/api/v1/enrollment_keys", is_expired="true")
        assert [k["id"] for k in expired] == [key["id"]]
        path = f"/api/v1/enrollment_keys/{key['id']}"
        client.patch(path, headers=AUTH, json={"expired_at": None})
        enroll(client, key["key"])
        assert listed(client, "/api/v1/enrollment_keys", is_expired="true") == []


def test_deleted_key_is_401() -> None:
    with running() as client:
        key = issue_key(client, "main", uses_remaining=None)
        path = f"/api/v1/enrollment_keys/{key['id']}"
        assert client.delete(path, headers=AUTH).status_code == 204
        refused = client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})
        error(refused, 401, "unauthorized")
        assert listed(client, "/api/v1/nodes") == []


def test_unknown_but_well_formed_key_is_401() -> None:
    with running() as client:
        doc = json.dumps({"server": "http://127.0.0.1:8080", "key": "never-issued"}).encode()
        blob = base64.urlsafe_b64encode(doc).decode()
        error(client.post("/agent/v1/enroll", json={"enrollment_key": blob}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enrollment_key": "not base64 json"}, "enrollment_key"),
        ({"enrollment_key": ""}, "enrollment_key"),
        ({}, "enrollment_key"),
        ({"enrollment_key": "KEY", "id_type": "sticky"}, "id_type"),
        ({"enrollment_key": "KEY", "node_id": "nope"}, "node_id"),
        ({"enrollment_key": "KEY", "ports": {"http_port": 70000}}, "ports.http_port"),
        ({"enrollment_key": "KEY", "ports": {"gopher_port": 70}}, "ports.gopher_port"),
        ({"enrollment_key": "KEY", "version": ""}, "version"),
        ({"enrollment_key": "KEY", "cluster_name": "main"}, "cluster_name"),
    ],
)
def test_enroll_validation(body: dict[str, Any], field: str) -> None:
    with running() as client:
        key = issue_key(client, "main")
        if body.get("enrollment_key") == "KEY":
            body = {**body, "enrollment_key": key["key"]}
        error(client.post("/agent/v1/enroll", json=body), 422, "validation_failed", {field})
        assert key_of(client, key["id"])["uses_remaining"] == 1


def test_node_limit_is_enforced_at_enrollment() -> None:
    with running() as client:
        create_cluster(client, "tiny", node_limit=1)
        key = issue_key(client, "tiny", uses_remaining=None)
        enroll(client, key["key"])
        error(client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]}), 409, "conflict")
        assert data(client.get("/api/v1/clusters/tiny", headers=AUTH))["node_count"] == 1


def test_key_of_a_deleted_cluster_enrolls_nobody() -> None:
    with running() as client:
        create_cluster(client, "short-lived")
        key = issue_key(client, "short-lived")
        client.delete("/api/v1/clusters/short-lived", headers=AUTH)
        response = client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]})
        assert response.status_code in (401, 403), response.text
        assert listed(client, "/api/v1/nodes") == []


def test_persistent_node_reenrolls_with_the_same_id() -> None:
    with running(**LIVENESS) as client:
        key = issue_key(client, "main", uses_remaining=None)
        first = enroll(client, key["key"], id_type="persistent", node_id=PERSISTENT,
                       version="1.0.0", self_update_enabled=True)
        assert first["node_id"] == PERSISTENT
        again = enroll(client, key["key"], 200, id_type="persistent", node_id=PERSISTENT,
                       version="1.1.0")
        assert again["node_id"] == PERSISTENT and again["reregistered"] is True
        assert again["api_token"] != first["api_token"]
        node = get_node(client, PERSISTENT)
        assert node["version"] == "1.1.0" and node["id_type"] == "persistent"
        assert node["api_token"] == again["api_token"] and node["self_update_enabled"] is False
        assert [n["version"] for n in listed(client, "/api/v1/nodes")] == ["1.1.0"]
        assert data(client.get("/api/v1/clusters/main", headers=AUTH))["node_count"] == 1
        error(beat(client, first["api_token"]), 401, "unauthorized")
        data(beat(client, again["api_token"]))


def test_persistent_reenrollment_with_another_clusters_key_moves_the_node() -> None:
    with running() as client:
        create_cluster(client, "second")
        enroll(client, issue_key(client, "main")["key"], id_type="persistent", node_id=PERSISTENT)
        moved = enroll(client, issue_key(client, "second")["key"], 200, id_type="persistent",
                       node_id=PERSISTENT)
        assert moved["cluster_name"] == "second"
        node = get_node(client, PERSISTENT)
        assert node["vpn_hostname"] == f"node-{PERSISTENT}.cluster-second.nm.internal"
        counts = {c["name"]: c["node_count"] for c in listed(client, "/api/v1/clusters")}
        assert counts == {"main": 0, "second": 1}


def test_random_nodes_always_get_fresh_ids() -> None:
    with running() as client:
        key = issue_key(client, "main", uses_remaining=None)
        ids = {enroll(client, key["key"], node_id=PERSISTENT)["node_id"] for _ in range(2)}
        assert len(ids) == 2 and PERSISTENT not in ids


def test_register_updates_what_the_agent_reports() -> None:
    with running(**LIVENESS) as client:
        node = enroll(client, issue_key(client, "main")["key"], version="0.9.0")
        body = {"version": "1.0.0", "self_update_enabled": True, "ports": {"ssh_port": 2222}}
        response = client.post("/agent/v1/register", headers=agent(node["api_token"]), json=body)
        assert data(response)["version"] == "1.0.0"
        seen = get_node(client, node["node_id"])
        assert seen["version"] == "1.0.0" and seen["self_update_enabled"] is True
        assert seen["ssh_port"] == 2222 and seen["http_port"] == 44000
        error(client.post("/agent/v1/register", headers=agent("bogus"), json={}), 401,
              "unauthorized")


def _statuses(client: TestClient, node_id: str) -> tuple[str, str]:
    summary = data(client.get("/api/v1/clusters/main", headers=AUTH))["nodes"][0]["status"]
    return get_node(client, node_id)["status"], summary


def test_heartbeats_drive_status_transitions(any_url: str) -> None:
    clock: FixedClock = fixed_clock()
    with running(any_url, clock=clock, **LIVENESS) as client:
        services = services_of(client)
        node = enroll(client, issue_key(client, "main")["key"])
        node_id, token = node["node_id"], node["api_token"]
        clock.advance(29)
        assert sweep_once(services) == 0
        assert _statuses(client, node_id) == ("healthy", "healthy")
        clock.advance(2)
        sweep_once(services)
        assert _statuses(client, node_id) == ("unhealthy", "unhealthy")
        assert [n["id"] for n in listed(client, "/api/v1/nodes", status="unhealthy")] == [node_id]
        clock.advance(60)
        sweep_once(services)
        assert _statuses(client, node_id) == ("unreachable", "unreachable")
        assert data(beat(client, token))["status"] == "healthy"
        assert _statuses(client, node_id) == ("healthy", "healthy")
        assert get_node(client, node_id)["last_seen_at"] == "2026-01-01T12:01:31Z"
        assert listed(client, "/api/v1/nodes", status="unreachable") == []


def test_a_refused_heartbeat_records_nothing_and_a_stranger_hears_401_first(
    any_url: str,
) -> None:
    """The node is found and touched in one statement once the body is known good: a body the
    API refuses leaves last_seen_at where it was, and a request with no node behind its token
    is a 401 whatever its body (as on every agent endpoint)."""
    clock = fixed_clock()
    with running(any_url, clock=clock, **LIVENESS) as client:
        node = enroll(client, issue_key(client, "main")["key"])
        node_id, token = node["node_id"], node["api_token"]
        clock.advance(10)
        data(beat(client, token))
        seen = get_node(client, node_id)["last_seen_at"]
        clock.advance(10)
        error(beat(client, token, "unreachable"), 422, "validation_failed", {"status"})
        error(client.post("/agent/v1/heartbeat", headers=agent(token), content=b"{"), 400,
              "bad_request")
        assert get_node(client, node_id)["last_seen_at"] == seen
        for body in (b"{", b'{"status": "unreachable"}', b'{"status": "healthy"}'):
            error(client.post("/agent/v1/heartbeat", headers=agent("not-a-token"),
                              content=body), 401, "unauthorized")
        error(client.post("/agent/v1/heartbeat", content=b"{"), 401, "unauthorized")
        assert get_node(client, node_id)["last_seen_at"] == seen
        assert data(beat(client, token)) == {
            "node_id": node_id, "status": "healthy", "heartbeat_interval_seconds": 3600.0}
        assert get_node(client, node_id)["last_seen_at"] == "2026-01-01T12:00:20Z"


def test_a_metrics_report_is_kept_for_its_token_and_a_refused_one_keeps_nothing(
    any_url: str,
) -> None:
    """POST /agent/v1/metrics finds its node by token in the statement that keeps the report:
    the node's latest figures are what it sent; a refused body and a stranger's report keep
    nothing, and the stranger hears 401 whatever its body."""
    clock = fixed_clock()
    with running(any_url, clock=clock, **LIVENESS) as client:
        node = enroll(client, issue_key(client, "main")["key"])
        node_id, token = node["node_id"], node["api_token"]

        def report(bearer: str, cores: Any) -> Any:
            return client.post("/agent/v1/metrics", headers=agent(bearer), json={
                "host": {"cpu": {"cores": cores}}, "agent": {}})

        def kept() -> Any:
            got = client.get(f"/api/v1/nodes/{node_id}/metrics/host", headers=AUTH)
            return got.status_code, got.json()["cpu"]["cores"] if got.is_success else None

        assert kept()[0] == 503  # nothing reported yet (the seed's "no metrics yet")
        assert data(report(token, 2)) == {"received_at": "2026-01-01T12:00:00Z"}
        assert kept() == (200, 2)
        clock.advance(5)
        error(report(token, "two"), 422, "validation_failed")
        error(report("not-a-token", 8), 401, "unauthorized")
        error(report("not-a-token", "two"), 401, "unauthorized")
        error(client.post("/agent/v1/metrics", headers=agent("not-a-token"), content=b"{"), 401,
              "unauthorized")
        assert kept() == (200, 2)
        assert data(report(token, 4)) == {"received_at": "2026-01-01T12:00:05Z"}
        assert kept() == (200, 4)


def test_regular_heartbeats_keep_a_node_healthy() -> None:
    clock = fixed_clock()
    with running(clock=clock, **LIVENESS) as client:
        node = enroll(client, issue_key(client, "main")["key"])
        for _ in range(5):
            clock.advance(20)
            data(beat(client, node["api_token"]))
            sweep_once(services_of(client))
        assert get_node(client, node["node_id"])["status"] == "healthy"
        assert data(beat(client, node["api_token"], "unhealthy"))["status"] == "unhealthy"
        assert get_node(client, node["node_id"])["status"] == "unhealthy"
        error(beat(client, node["api_token"], "unreachable"), 422, "validation_failed", {"status"})
        error(beat(client, node["api_token"], "sleepy"), 422, "validation_failed", {"status"})
        error(client.post("/agent/v1/heartbeat", json={}), 401, "unauthorized")
        error(beat(client, "not-a-token"), 401, "unauthorized")
        client.delete(f"/api/v1/nodes/{node['node_id']}", headers=AUTH)
        error(beat(client, node["api_token"]), 401, "unauthorized")


def test_an_admin_back_from_an_outage_waits_before_judging_silence(sqlite_url: str) -> None:
    clock: FixedClock = fixed_clock()
    with running(sqlite_url, clock=clock, **LIVENESS) as client:
        node_id = enroll(client, issue_key(client, "main")["key"])["node_id"]
    clock.advance(3600)  # the admin was down for an hour; the node kept running
    with running(sqlite_url, clock=clock, **LIVENESS) as client:
        services = services_of(client)
        assert sweep_once(services) == 0  # its silence was the admin's, not the node's
        assert _statuses(client, node_id) == ("healthy", "healthy")
        clock.advance(31)
        sweep_once(services)  # up long enough to have heard a heartbeat: now it counts
        assert _statuses(client, node_id) == ("unhealthy", "unhealthy")
