"""SelfUpdates.Request endpoints (E46-E49): pending -> processing -> completed with a summary."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from entrypoints.workers.scheduler import schedule_once
from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    add_node,
    create_cluster,
    data,
    error,
    get_node,
    listed,
    page,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e
FIELDS = {"id", "inserted_at", "status", "summary", "targeting", "updated_at"}


def request(client: TestClient, targeting: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/self_update_requests", headers=AUTH,
                           json={"targeting": targeting})
    result: dict[str, Any] = data(response, 201)
    return result


def fetch(client: TestClient, request_id: str) -> dict[str, Any]:
    result: dict[str, Any] = data(
        client.get(f"/api/v1/self_update_requests/{request_id}", headers=AUTH))
    return result


def test_request_triggers_eligible_nodes_and_completes_with_a_summary() -> None:
    with running(scheduler_interval=3600.0) as client:
        create_cluster(client, "prod")
        eligible = [add_node(client, "prod", version="0.1.0", self_update_enabled=True)
                    for _ in range(2)]
        add_node(client, "prod", version="0.1.0")  # self-update off: never targeted
        add_node(client, "prod", version="0.2.0", self_update_enabled=True)  # filtered out
        created = request(client, {"type": "all", "node_filters": {"version": "0.1.*"}})
        assert set(created) == FIELDS
        assert created["status"] == "pending" and created["summary"] is None
        assert created["targeting"] == {"type": "all", "node_filters": {
            "version": "0.1.*", "status": "healthy", "self_update_enabled": True}}
        error(client.delete(f"/api/v1/self_update_requests/{created['id']}", headers=AUTH),
              409, "conflict")
        schedule_once(services_of(client))
        done = fetch(client, created["id"])
        assert done["status"] == "completed"
        assert done["summary"] == {"total": 2, "triggered": 2, "failed": 0}
        assert [r["id"] for r in listed(client, "/api/v1/self_update_requests",
                                        status="completed")] == [created["id"]]
        for node_id in eligible:  # the agents learn of it on their next poll
            row = services_of(client).view.get("nodes", UUID(node_id))
            assert row is not None and row["update_request_id"] == UUID(created["id"])
        assert client.delete(f"/api/v1/self_update_requests/{created['id']}",
                             headers=AUTH).status_code == 204
        error(client.get(f"/api/v1/self_update_requests/{created['id']}", headers=AUTH),
              404, "not_found")
        assert get_node(client, eligible[0])["version"] == "0.1.0"


def test_background_scheduler_processes_requests() -> None:
    with running(scheduler_interval=0.05) as client:
        node = add_node(client, self_update_enabled=True)
        created = request(client, {"type": "nodes", "node_ids": [node, MISSING]})
        deadline = time.monotonic() + 10
        while fetch(client, created["id"])["status"] != "completed":
            assert time.monotonic() < deadline, "the scheduler never processed the request"
            time.sleep(0.02)
        assert fetch(client, created["id"])["summary"] == {"total": 1, "triggered": 1, "failed": 0}


@pytest.mark.parametrize(("targeting", "field"), [
    ({"type": "all", "node_filters": {"status": "unhealthy"}}, "targeting.node_filters.status"),
    ({"type": "all", "node_filters": {"self_update_enabled": False}},
     "targeting.node_filters.self_update_enabled"),
    ({"type": "clusters"}, "targeting.cluster_names"),
    ({"type": "all", "cluster_filters": {"size": 3}}, "targeting.cluster_filters.size"),
])
def test_ineligible_or_malformed_targeting_is_422(targeting: dict[str, Any], field: str) -> None:
    with running() as client:
        response = client.post("/api/v1/self_update_requests", headers=AUTH,
                               json={"targeting": targeting})
        error(response, 422, "validation_failed", {field})
        error(client.post("/api/v1/self_update_requests", headers=AUTH, json={}), 422,
              "validation_failed", {"targeting"})


def test_list_filter_and_unknown_ids() -> None:
    with running(scheduler_interval=3600.0) as client:
        request(client, {"type": "all"})
        assert len(listed(client, "/api/v1/self_update_requests", status="pending")) == 1
        assert listed(client, "/api/v1/self_update_requests", status="completed") == []
        error(client.get("/api/v1/self_update_requests?status=done", headers=AUTH), 400,
              "bad_request", {"status"})
        error(client.get(f"/api/v1/self_update_requests/{MISSING}", headers=AUTH), 404,
              "not_found")
        error(client.delete(f"/api/v1/self_update_requests/{MISSING}", headers=AUTH), 404,
              "not_found")


def test_a_non_object_targeting_names_the_field() -> None:
    with running() as client:
        response = client.post("/api/v1/self_update_requests", headers=AUTH,
                               json={"targeting": []})
        details = error(response, 422, "validation_failed", {"targeting"})
        assert "object" in details["targeting"][0]
        error(client.post("/api/v1/self_update_requests", headers=AUTH, json=[]), 400,
              "bad_request", {"body"})


def test_lifecycle_on_every_store(any_url: str) -> None:
    with running(any_url, scheduler_interval=3600.0) as client:
        create_cluster(client, "edge-a")
        create_cluster(client, "edge-b")
        target = add_node(client, "edge-a", self_update_enabled=True)
        add_node(client, "edge-b", self_update_enabled=True)  # another cluster
        add_node(client, "edge-a")  # self-update off
        created = request(client, {"type": "clusters", "cluster_names": ["edge-a", "edge-a"]})
        assert created["targeting"] == {"type": "clusters", "cluster_names": ["edge-a"],
                                        "node_filters": {"status": "healthy",
                                                         "self_update_enabled": True}}
        [row] = listed(client, "/api/v1/self_update_requests", status="pending")
        assert row == created and row["summary"] is None
        error(client.delete(f"/api/v1/self_update_requests/{created['id']}", headers=AUTH),
              409, "conflict")
        schedule_once(services_of(client))
        done = fetch(client, created["id"])
        assert done["status"] == "completed" and done["targeting"] == created["targeting"]
        assert done["summary"] == {"total": 1, "triggered": 1, "failed": 0}
        assert done["inserted_at"] == created["inserted_at"]
        node = services_of(client).view.get("nodes", UUID(target))
        assert node is not None and node["update_request_id"] == UUID(created["id"])
        assert client.delete(f"/api/v1/self_update_requests/{created['id']}",
                             headers=AUTH).status_code == 204
        assert listed(client, "/api/v1/self_update_requests") == []


def test_a_request_that_reaches_nobody_completes_empty() -> None:
    with running(scheduler_interval=3600.0) as client:
        add_node(client)  # not self_update_enabled
        nobody = request(client, {"type": "nodes", "node_ids": [MISSING, MISSING]})
        assert nobody["targeting"]["node_ids"] == [MISSING]
        schedule_once(services_of(client))
        done = fetch(client, nobody["id"])
        assert done["status"] == "completed"
        assert done["summary"] == {"total": 0, "triggered": 0, "failed": 0}


def test_list_sorts_pages_and_checks_parameters() -> None:
    with running(scheduler_interval=3600.0) as client:
        first = request(client, {"type": "all"})
        second = request(client, {"type": "all", "node_filters": {"version": "0.*"}})
        schedule_once(services_of(client))
        third = request(client, {"type": "all"})
        rows, pagination = page(client.get("/api/v1/self_update_requests", headers=AUTH,
                                           params={"page_size": 2}))
        assert [r["id"] for r in rows] == [first["id"], second["id"]]
        assert pagination["total_count"] == 3 and pagination["has_next"]
        rows = listed(client, "/api/v1/self_update_requests", order_by="status,inserted_at",
                      order_directions="asc,desc")
        assert [r["id"] for r in rows] == [second["id"], first["id"], third["id"]]
        assert [r["summary"] is None for r in rows] == [False, False, True]
        for params in ({"order_by": "summary"}, {"targeting": "all"},
                       {"inserted_at__gte": "later"}):
            error(client.get("/api/v1/self_update_requests", headers=AUTH, params=params), 400,
                  "bad_request", set(params))
        error(client.get("/api/v1/self_update_requests/nope", headers=AUTH), 400,
              "bad_request", {"id"})
