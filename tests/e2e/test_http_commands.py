"""Commands.Command and Commands.CommandExecution endpoints (E30-E37) over HTTP.

An agent's side (taking work, reporting results) goes through the application service here;
tests/e2e/test_agent_commands.py drives the same flows with real agent processes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    add_node,
    create_cluster,
    data,
    error,
    fixed_clock,
    listed,
    page,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e
COMMAND_FIELDS = {"command_text", "expired_at", "id", "inserted_at", "targeting", "timeout",
                  "updated_at"}
EXECUTION_FIELDS = {
    "cancelled_at", "cluster_name", "command_id", "command_text", "completed_at", "exit_code",
    "expired_at", "id", "inserted_at", "node_id", "output", "sent_at", "status", "target_all",
    "timeout", "updated_at",
}


def create(client: TestClient, targeting: dict[str, Any], status: int = 201, **fields: Any) -> Any:
    body = {"command_text": "echo hi", "targeting": targeting, **fields}
    return client.post("/api/v1/commands", headers=AUTH, json=body), status


def command(client: TestClient, targeting: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response, _ = create(client, targeting, **fields)
    result: dict[str, Any] = data(response, 201)
    return result


def executions(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return listed(client, "/api/v1/command_executions", page_size=100, **params)


def by_node(client: TestClient, command_id: str) -> dict[str, dict[str, Any]]:
    return {e["node_id"]: e for e in executions(client, command_id=command_id)}


def take(client: TestClient, node_id: str) -> list[UUID]:
    """What the node's agent would receive on its next poll."""
    work = services_of(client).executions.next_work(UUID(node_id), [])
    return [a.id for a in work.executions]


def report(client: TestClient, node_id: str, exec_id: str, code: int, output: str = "") -> None:
    services_of(client).executions.report(UUID(node_id), UUID(exec_id), code, output)


def fleet(client: TestClient) -> dict[str, str]:
    """prod: a (1.2.0), b (2.0.0, self-update on); staging: c (1.2.5)."""
    create_cluster(client, "prod", node_limit=10)
    create_cluster(client, "staging")
    return {
        "a": add_node(client, "prod", version="1.2.0"),
        "b": add_node(client, "prod", version="2.0.0", self_update_enabled=True),
        "c": add_node(client, "staging", version="1.2.5"),
    }


def test_create_resolves_targets_once_and_echoes_the_order() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod", "prod"],
                                   "node_filters": {"version": "1.*"}}, timeout=30000)
        assert set(created) == COMMAND_FIELDS
        assert created["targeting"] == {"type": "clusters", "cluster_names": ["prod"],
                                        "node_filters": {"version": "1.*"}}
        assert created["timeout"] == 30000 and created["expired_at"] is None
        found = by_node(client, created["id"])
        assert set(found) == {nodes["a"]}
        execution = found[nodes["a"]]
        assert set(execution) == EXECUTION_FIELDS
        assert execution["status"] == "pending" and execution["cluster_name"] == "prod"
        assert execution["command_text"] == "echo hi" and execution["target_all"] is False
        add_node(client, "prod", version="1.9.0")  # joins later: not targeted
        assert len(executions(client, command_id=created["id"])) == 1
        assert data(client.get(f"/api/v1/commands/{created['id']}", headers=AUTH)) == created


@pytest.mark.parametrize(("targeting", "expected"), [
    ({"type": "all"}, {"a", "b", "c"}),
    ({"type": "all", "node_filters": {"cluster_name": "st*"}}, {"c"}),
    ({"type": "all", "node_filters": {"self_update_enabled": True}}, {"b"}),
    ({"type": "all", "cluster_filters": {"has_node_limit": True}}, {"a", "b"}),
    ({"type": "clusters", "cluster_names": ["prod", "staging", "nowhere"],
      "cluster_filters": {"name": "*ing"}}, {"c"}),
    ({"type": "nodes", "node_ids": ["a", "c", MISSING], "node_filters": {"version": "*.5"}},
     {"c"}),
])
def test_targeting_types_and_filters(targeting: dict[str, Any], expected: set[str]) -> None:
    with running() as client:
        nodes = fleet(client)
        if "node_ids" in targeting:
            targeting = {**targeting, "node_ids": [nodes.get(n, n) for n in targeting["node_ids"]]}
        created = command(client, targeting)
        assert set(by_node(client, created["id"])) == {nodes[n] for n in expected}
        rows = executions(client, command_id=created["id"])
        assert all(r["target_all"] is (targeting["type"] == "all") for r in rows)


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"timeout": 0}, "timeout", "must be greater than 0"),
    ({"expired_at": "2020-01-01T00:00:00Z"}, "expired_at", "must be in the future"),
    ({"command_text": ""}, "command_text", None),
    ({"targeting": {"type": "nodes"}}, "targeting.node_ids", "can't be blank"),
    ({"targeting": {"type": "all", "cluster_names": ["prod"]}}, "targeting.cluster_names", None),
    ({"targeting": {"type": "some"}}, "targeting.type", None),
    ({"targeting": {"type": "all", "node_filters": {"colour": "red"}}},
     "targeting.node_filters.colour", None),
    ({"targeting": {"type": "all", "node_filters": {"status": "sleepy"}}},
     "targeting.node_filters.status", None),
    ({"targeting": {"type": "all", "node_filters": {"inserted_at__gte": "yesterday"}}},
     "targeting.node_filters.inserted_at__gte", "must be an ISO 8601 date or datetime"),
])
def test_bad_orders_are_422_naming_the_field(
    body: dict[str, Any], field: str, message: str | None
) -> None:
    with running() as client:
        full = {"command_text": "uptime", "targeting": {"type": "all"}, **body}
        details = error(client.post("/api/v1/commands", headers=AUTH, json=full), 422,
                        "validation_failed", {field})
        if message:
            assert message in details[field][0]
        assert listed(client, "/api/v1/commands") == []


def test_command_list_filters() -> None:
    clock = fixed_clock()
    with running(clock=clock) as client:
        add_node(client)
        command(client, {"type": "all"}, command_text="docker ps", timeout=500)
        command(client, {"type": "all"}, command_text="ls -la",
                expired_at="2026-06-01T00:00:00Z")
        texts = {
            "command_text": "docker*", "has_timeout": "true", "timeout__gte": "100",
            "timeout__lte": "500", "has_expired_at": "false",
        }
        for name, value in texts.items():
            rows = listed(client, "/api/v1/commands", **{name: value})
            assert [r["command_text"] for r in rows] == ["docker ps"], name
        rows = listed(client, "/api/v1/commands", expired_at__gte="2026-06-01")
        assert [r["command_text"] for r in rows] == ["ls -la"]
        error(client.get("/api/v1/commands?targeting=all", headers=AUTH), 400, "bad_request",
              {"targeting"})


def test_execution_lifecycle_through_the_api() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"]})
        found = by_node(client, created["id"])
        done, cancelled = found[nodes["a"]]["id"], found[nodes["b"]]["id"]
        assert take(client, nodes["a"]) == [UUID(done)]
        report(client, nodes["a"], done, 5, "Unit not found\n")
        row = data(client.get(f"/api/v1/command_executions/{done}", headers=AUTH))
        assert row["status"] == "completed" and row["exit_code"] == 5
        assert row["output"] == "Unit not found\n" and row["sent_at"] and row["completed_at"]
        cancel = client.patch(f"/api/v1/command_executions/{cancelled}/cancel", headers=AUTH)
        assert data(cancel) == {"result": "cancelled"}
        for exec_id in (done, cancelled):  # terminal: 409
            error(client.patch(f"/api/v1/command_executions/{exec_id}/cancel", headers=AUTH),
                  409, "conflict")
        assert [r["id"] for r in executions(client, status="cancelled")] == [cancelled]
        assert [r["id"] for r in executions(client, exit_code__gte=1)] == [done]
        assert [r["id"] for r in executions(client, output="Unit*")] == [done]
        assert [r["id"] for r in executions(client, has_output="false")] == [cancelled]
        error(client.patch(f"/api/v1/command_executions/{MISSING}/cancel", headers=AUTH),
              404, "not_found")


def test_cancelling_a_sent_execution_asks_the_agent() -> None:
    with running() as client:
        node = add_node(client)
        created = command(client, {"type": "all"})
        [exec_id] = take(client, node)
        path = f"/api/v1/command_executions/{exec_id}/cancel"
        assert data(client.patch(path, headers=AUTH)) == {"result": "cancellation request sent"}
        assert data(client.patch(path, headers=AUTH)) == {"result": "cancellation request sent"}
        work = services_of(client).executions.next_work(UUID(node), [exec_id])
        assert work.cancel == [exec_id]
        report(client, node, str(exec_id), 143, "Terminated")
        row = by_node(client, created["id"])[node]
        assert row["status"] == "cancelled" and row["exit_code"] == 143 and row["cancelled_at"]


def test_deletes_need_finished_executions_and_cascade() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "nodes", "node_ids": [nodes["a"], nodes["b"]]})
        ids = {n: e["id"] for n, e in by_node(client, created["id"]).items()}
        path = f"/api/v1/commands/{created['id']}"
        error(client.delete(path, headers=AUTH), 409, "conflict")
        error(client.delete(f"/api/v1/command_executions/{ids[nodes['a']]}", headers=AUTH),
              409, "conflict")
        client.patch(f"/api/v1/command_executions/{ids[nodes['a']]}/cancel", headers=AUTH)
        assert client.delete(f"/api/v1/command_executions/{ids[nodes['a']]}",
                             headers=AUTH).status_code == 204
        error(client.delete(path, headers=AUTH), 409, "conflict")  # b is still pending
        client.patch(f"/api/v1/command_executions/{ids[nodes['b']]}/cancel", headers=AUTH)
        assert client.delete(path, headers=AUTH).status_code == 204
        error(client.get(path, headers=AUTH), 404, "not_found")
        for exec_id in ids.values():
            error(client.get(f"/api/v1/command_executions/{exec_id}", headers=AUTH),
                  404, "not_found")


def test_node_deletion_ends_its_work_and_keeps_history() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "all"})
        before = by_node(client, created["id"])
        assert client.delete(f"/api/v1/nodes/{nodes['c']}", headers=AUTH).status_code == 204
        row = data(client.get(
            f"/api/v1/command_executions/{before[nodes['c']]['id']}", headers=AUTH))
        assert row["node_id"] is None and row["status"] == "cancelled" and row["cancelled_at"]
        assert {r["status"] for r in executions(client, command_id=created["id"])} == {
            "pending", "cancelled"}


def test_cluster_name_filter_follows_the_node() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"]})
        moved = client.patch(f"/api/v1/nodes/{nodes['a']}/change_cluster", headers=AUTH,
                             json={"cluster_name": "staging"})
        data(moved)
        staging = executions(client, cluster_name="stag*")
        assert [r["node_id"] for r in staging] == [nodes["a"]]
        assert staging[0]["cluster_name"] == "prod"  # the cluster the command named
        assert len(executions(client, has_cluster="true", command_id=created["id"])) == 2
        everything = command(client, {"type": "all"})
        assert executions(client, has_cluster="true", command_id=everything["id"]) == []


def test_execution_list_pages_and_rejects_unknown_filters() -> None:
    with running() as client:
        fleet(client)
        command(client, {"type": "all"})
        rows, pagination = page(client.get("/api/v1/command_executions", headers=AUTH,
                                           params={"page_size": 2, "order_by": "status"}))
        assert len(rows) == 2 and pagination["total_count"] == 3
        error(client.get("/api/v1/command_executions?status=running", headers=AUTH), 400,
              "bad_request", {"status"})
        error(client.get("/api/v1/command_executions?expired_at__gte=2026-01-01", headers=AUTH),
              400, "bad_request", {"expired_at__gte"})


def test_main_flow_on_postgres(pg_url: str) -> None:
    with running(pg_url) as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"],
                                   "cluster_filters": {"node_count__gte": 2}})
        found = by_node(client, created["id"])
        assert set(found) == {nodes["a"], nodes["b"]}
        [exec_id] = take(client, nodes["a"])
        report(client, nodes["a"], str(exec_id), 0, "hi\n")
        client.patch(f"/api/v1/command_executions/{found[nodes['b']]['id']}/cancel", headers=AUTH)
        statuses = {r["status"] for r in executions(client, command_id=created["id"])}
        assert statuses == {"completed", "cancelled"}
        assert client.delete(f"/api/v1/commands/{created['id']}", headers=AUTH).status_code == 204
        assert executions(client, command_id=created["id"]) == []


def test_dates_out_of_range_are_422_not_500() -> None:
    with running() as client:
        body = {"command_text": "uptime", "targeting": {
            "type": "all", "node_filters": {"inserted_at__gte": "0001-01-01T00:00:00+01:00"}}}
        details = error(client.post("/api/v1/commands", headers=AUTH, json=body), 422,
                        "validation_failed", {"targeting.node_filters.inserted_at__gte"})
        assert details["targeting.node_filters.inserted_at__gte"] == ["is out of range"]
        error(client.get("/api/v1/commands?inserted_at__gte=0001-01-01T00:00:00%2B01:00",
                         headers=AUTH), 400, "bad_request", {"inserted_at__gte"})
