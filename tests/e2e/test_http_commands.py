"""Commands.Command endpoints (E30-E33) over HTTP; executions are in test_http_command_executions.

An agent's side (taking work, reporting results) goes through the application service here;
tests/e2e/test_agent_commands.py drives the same flows with real agent processes. The helpers
below are shared with the execution tests.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from entrypoints.http.openapi.document import build_openapi
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


def command(client: TestClient, targeting: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"command_text": "echo hi", "targeting": targeting, **fields}
    result: dict[str, Any] = data(client.post("/api/v1/commands", headers=AUTH, json=body), 201)
    return result


def executions(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return listed(client, "/api/v1/command_executions", page_size=100, **params)


def by_node(client: TestClient, command_id: str) -> dict[str, dict[str, Any]]:
    return {e["node_id"]: e for e in executions(client, command_id=command_id)}


def take(client: TestClient, node_id: str, running: list[UUID] | None = None) -> list[UUID]:
    """What the node's agent would receive on its next poll."""
    work = services_of(client).executions.next_work(UUID(node_id), running or [])
    return [a.id for a in work.executions]


def report(client: TestClient, node_id: str, exec_id: Any, code: int, output: str = "") -> bool:
    """The agent's result; False when it came too late and was dropped."""
    reported = services_of(client).executions.report(UUID(node_id), UUID(str(exec_id)), code,
                                                     output)
    return reported.accepted


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
        assert execution["timeout"] == 30000 and execution["command_id"] == created["id"]
        add_node(client, "prod", version="1.9.0")  # joins later: not targeted
        assert len(executions(client, command_id=created["id"])) == 1
        assert data(client.get(f"/api/v1/commands/{created['id']}", headers=AUTH)) == created


@pytest.mark.parametrize(("targeting", "expected"), [
    ({"type": "all"}, {"a", "b", "c"}),
    ({"type": "all", "node_filters": {"cluster_name": "st*"}}, {"c"}),
    ({"type": "all", "node_filters": {"self_update_enabled": True}}, {"b"}),
    ({"type": "all", "node_filters": {"version": "1.2.*", "id_type": "random"}}, {"a", "c"}),
    ({"type": "all", "node_filters": {"status": "unreachable"}}, set()),
    ({"type": "all", "cluster_filters": {"has_node_limit": True}}, {"a", "b"}),
    ({"type": "all", "cluster_filters": {"name": "*ro*"},
      "node_filters": {"version": "2.*"}}, {"b"}),
    ({"type": "clusters", "cluster_names": ["prod", "staging", "nowhere"],
      "cluster_filters": {"name": "*ing"}}, {"c"}),
    ({"type": "clusters", "cluster_names": ["prod"],
      "cluster_filters": {"node_count__gte": 3}}, set()),
    ({"type": "nodes", "node_ids": ["a", "c", MISSING], "node_filters": {"version": "*.5"}},
     {"c"}),
    ({"type": "nodes", "node_ids": ["b", "b", "a"], "cluster_filters": {"name": "prod"}},
     {"a", "b"}),
])
def test_targeting_types_and_filters(targeting: dict[str, Any], expected: set[str]) -> None:
    with running() as client:
        nodes = fleet(client)
        if "node_ids" in targeting:
            targeting = {**targeting, "node_ids": [nodes.get(n, n) for n in targeting["node_ids"]]}
        created = command(client, targeting)
        rows = executions(client, command_id=created["id"])
        assert sorted(r["node_id"] for r in rows) == sorted(nodes[n] for n in expected)
        assert all(r["target_all"] is (targeting["type"] == "all") for r in rows)
        assert all(r["cluster_name"] is None for r in rows)  # none named exactly one cluster


def test_node_ids_are_deduplicated_and_unknown_ids_are_not_an_error() -> None:
    with running() as client:
        node = add_node(client)
        created = command(client, {"type": "nodes", "node_ids": [node, MISSING, node]})
        assert created["targeting"]["node_ids"] == [node, MISSING]
        assert [r["node_id"] for r in executions(client, command_id=created["id"])] == [node]
        nobody = command(client, {"type": "clusters", "cluster_names": ["nowhere"]})
        assert executions(client, command_id=nobody["id"]) == []
        assert client.delete(f"/api/v1/commands/{nobody['id']}", headers=AUTH).status_code == 204


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"timeout": 0}, "timeout", "must be greater than 0"),
    ({"timeout": -5}, "timeout", "must be greater than 0"),
    ({"timeout": 1.5}, "timeout", None),
    ({"expired_at": "2020-01-01T00:00:00Z"}, "expired_at", "must be in the future"),
    ({"expired_at": "next week"}, "expired_at", None),
    ({"command_text": ""}, "command_text", None),
    ({"command_text": None}, "command_text", None),
    ({"colour": "red"}, "colour", "is not a known field"),
    ({"targeting": {}}, "targeting.type", "can't be blank"),
    ({"targeting": {"type": "some"}}, "targeting.type", None),
    ({"targeting": {"type": "nodes"}}, "targeting.node_ids", "can't be blank"),
    ({"targeting": {"type": "nodes", "node_ids": []}}, "targeting.node_ids", "can't be blank"),
    ({"targeting": {"type": "nodes", "node_ids": ["nope"]}}, "targeting.node_ids[0]", None),
    ({"targeting": {"type": "clusters"}}, "targeting.cluster_names", "can't be blank"),
    ({"targeting": {"type": "all", "cluster_names": ["prod"]}}, "targeting.cluster_names",
     "is only allowed for its targeting type"),
    ({"targeting": {"type": "clusters", "cluster_names": ["x"], "node_ids": [MISSING]}},
     "targeting.node_ids", "is only allowed for its targeting type"),
    ({"targeting": {"type": "all", "node_filters": {"colour": "red"}}},
     "targeting.node_filters.colour", "is not a known field"),
    ({"targeting": {"type": "all", "cluster_filters": {"size": 3}}},
     "targeting.cluster_filters.size", "is not a known field"),
    ({"targeting": {"type": "all", "node_filters": {"status": "sleepy"}}},
     "targeting.node_filters.status", None),
    ({"targeting": {"type": "all", "node_filters": {"id_type": "borrowed"}}},
     "targeting.node_filters.id_type", None),
    ({"targeting": {"type": "all", "cluster_filters": {"node_count": -1}}},
     "targeting.cluster_filters.node_count", "must be greater than or equal to 0"),
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


def test_bodies_that_are_not_json_objects_are_400() -> None:
    with running() as client:
        for raw in (b"{nope", b"[1]", b'"uptime"'):
            error(client.post("/api/v1/commands", headers=AUTH, content=raw), 400,
                  "bad_request", {"body"})


def test_a_nested_non_object_is_a_422_on_its_field() -> None:
    with running() as client:
        for targeting, field in (("all", "targeting"), ({"type": "all", "node_filters": []},
                                                         "targeting.node_filters")):
            body = {"command_text": "uptime", "targeting": targeting}
            details = error(client.post("/api/v1/commands", headers=AUTH, json=body), 422,
                            "validation_failed", {field})
            assert "object" in details[field][0]


def test_dates_out_of_range_are_422_not_500() -> None:
    with running() as client:
        body = {"command_text": "uptime", "targeting": {
            "type": "all", "node_filters": {"inserted_at__gte": "0001-01-01T00:00:00+01:00"}}}
        details = error(client.post("/api/v1/commands", headers=AUTH, json=body), 422,
                        "validation_failed", {"targeting.node_filters.inserted_at__gte"})
        assert details["targeting.node_filters.inserted_at__gte"] == ["is out of range"]
        error(client.get("/api/v1/commands?inserted_at__gte=0001-01-01T00:00:00%2B01:00",
                         headers=AUTH), 400, "bad_request", {"inserted_at__gte"})


def test_a_timeout_beyond_the_storable_range_is_422() -> None:
    with running() as client:
        add_node(client)
        body = {"command_text": "uptime", "targeting": {"type": "all"}, "timeout": 2**63}
        error(client.post("/api/v1/commands", headers=AUTH, json=body), 422,
              "validation_failed", {"timeout"})


def test_command_list_filters() -> None:
    clock = fixed_clock()
    with running(clock=clock) as client:
        add_node(client)
        command(client, {"type": "all"}, command_text="docker ps", timeout=500)
        clock.advance(86400)
        command(client, {"type": "all"}, command_text="ls -la",
                expired_at="2026-06-01T00:00:00Z")
        texts = {
            "command_text": "docker*", "has_timeout": "true", "timeout__gte": "100",
            "timeout__lte": "500", "has_expired_at": "false", "inserted_at__lte": "2026-01-01",
            "updated_at__lte": "2026-01-01T12:00:00Z",
        }
        for name, value in texts.items():
            rows = listed(client, "/api/v1/commands", **{name: value})
            assert [r["command_text"] for r in rows] == ["docker ps"], name
        lists = {"expired_at__gte": "2026-06-01", "expired_at__lte": "2026-06-01",
                 "has_expired_at": "true", "has_timeout": "false", "command_text": "*-la",
                 "inserted_at__gte": "2026-01-02"}
        for name, value in lists.items():
            rows = listed(client, "/api/v1/commands", **{name: value})
            assert [r["command_text"] for r in rows] == ["ls -la"], name
        assert listed(client, "/api/v1/commands", command_text="docker") == []  # exact
        assert listed(client, "/api/v1/commands", timeout__gte="501") == []
        error(client.get("/api/v1/commands?targeting=all", headers=AUTH), 400, "bad_request",
              {"targeting"})
        error(client.get("/api/v1/commands?timeout__gte=soon&has_timeout=maybe", headers=AUTH),
              400, "bad_request", {"timeout__gte", "has_timeout"})


def test_command_list_sorts_and_pages() -> None:
    with running() as client:
        add_node(client)
        for text in ("b", "c", "a"):
            command(client, {"type": "all"}, command_text=text)
        rows, pagination = page(client.get("/api/v1/commands", headers=AUTH, params={
            "order_by": "command_text", "order_directions": "desc", "page_size": 2}))
        assert [r["command_text"] for r in rows] == ["c", "b"]
        assert pagination["total_count"] == 3 and pagination["next_page"] == 2
        rows, pagination = page(client.get("/api/v1/commands", headers=AUTH, params={
            "order_by": "command_text", "order_directions": "desc", "page_size": 2, "page": 2}))
        assert [r["command_text"] for r in rows] == ["a"] and not pagination["has_next"]
        assert [r["command_text"] for r in listed(client, "/api/v1/commands")] == ["b", "c", "a"]
        error(client.get("/api/v1/commands?order_by=targeting", headers=AUTH), 400,
              "bad_request", {"order_by"})


def test_get_and_delete_unknown_or_malformed_ids() -> None:
    with running() as client:
        for method in ("GET", "DELETE"):
            error(client.request(method, f"/api/v1/commands/{MISSING}", headers=AUTH), 404,
                  "not_found")
            error(client.request(method, "/api/v1/commands/nope", headers=AUTH), 400,
                  "bad_request", {"id"})


def test_deletes_need_finished_executions_and_cascade() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "nodes", "node_ids": [nodes["a"], nodes["b"]]})
        ids = {n: e["id"] for n, e in by_node(client, created["id"]).items()}
        path = f"/api/v1/commands/{created['id']}"
        error(client.delete(path, headers=AUTH), 409, "conflict")
        [sent] = take(client, nodes["a"])
        error(client.delete(path, headers=AUTH), 409, "conflict")
        report(client, nodes["a"], sent, 0, "ok")
        error(client.delete(path, headers=AUTH), 409, "conflict")  # b is still pending
        client.patch(f"/api/v1/command_executions/{ids[nodes['b']]}/cancel", headers=AUTH)
        assert client.delete(path, headers=AUTH).status_code == 204
        error(client.get(path, headers=AUTH), 404, "not_found")
        error(client.delete(path, headers=AUTH), 404, "not_found")
        for exec_id in ids.values():
            error(client.get(f"/api/v1/command_executions/{exec_id}", headers=AUTH),
                  404, "not_found")
        assert executions(client, command_id=created["id"]) == []
        assert listed(client, "/api/v1/commands") == []


def test_main_flow_on_postgres(pg_url: str) -> None:
    with running(pg_url) as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"],
                                   "cluster_filters": {"node_count__gte": 2}},
                          expired_at="2999-01-01T00:00:00Z", timeout=1000)
        assert data(client.get(f"/api/v1/commands/{created['id']}", headers=AUTH)) == created
        assert [r["id"] for r in listed(client, "/api/v1/commands", command_text="echo*",
                                        has_expired_at="true", timeout__lte="1000")] == [
            created["id"]]
        found = by_node(client, created["id"])
        assert set(found) == {nodes["a"], nodes["b"]}
        assert {r["cluster_name"] for r in found.values()} == {"prod"}
        [exec_id] = take(client, nodes["a"])
        report(client, nodes["a"], exec_id, 0, "hi\n")
        error(client.delete(f"/api/v1/commands/{created['id']}", headers=AUTH), 409, "conflict")
        client.patch(f"/api/v1/command_executions/{found[nodes['b']]['id']}/cancel", headers=AUTH)
        statuses = {r["status"] for r in executions(client, command_id=created["id"])}
        assert statuses == {"completed", "cancelled"}
        assert client.delete(f"/api/v1/commands/{created['id']}", headers=AUTH).status_code == 204
        assert executions(client, command_id=created["id"]) == []


def test_the_document_describes_every_targeting_field() -> None:
    schemas = build_openapi()["components"]["schemas"]
    for name in ("Targeting", "NodeFilters", "ClusterFilters"):
        assert all(p.get("description") for p in schemas[name]["properties"].values()), name
    moment = schemas["NodeFilters"]["properties"]["last_seen_at__gte"]["anyOf"]
    assert {"type": "string", "format": "date"} in moment
