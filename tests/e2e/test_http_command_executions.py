"""Commands.CommandExecution endpoints (E34-E37): lifecycle, cancel, delete, list filters.

The agent's side goes through the application service (services.executions.next_work/report),
as in test_http_commands.py; tests/e2e/test_agent_commands.py does it with real agents.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from entrypoints.workers.scheduler import schedule_once
from tests.e2e.test_http_commands import (
    EXECUTION_FIELDS,
    by_node,
    command,
    executions,
    fleet,
    report,
    take,
)
from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    add_node,
    data,
    error,
    fixed_clock,
    iso,
    listed,
    page,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e
BASE = "/api/v1/command_executions"


def cancel(client: TestClient, exec_id: Any) -> Any:
    return client.patch(f"{BASE}/{exec_id}/cancel", headers=AUTH)


def fetch(client: TestClient, exec_id: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(client.get(f"{BASE}/{exec_id}", headers=AUTH))
    return result


def reasons(client: TestClient, exec_id: Any) -> list[tuple[str, Any]]:
    """(event type, reason) of every event the execution emitted, in order."""
    rows = listed(client, "/api/v1/events", subject_id=str(exec_id), page_size=100)
    return [(r["type"].rsplit(".", 1)[-1], r["data"]["reason"]) for r in rows]


def test_lifecycle_pending_sent_completed(any_url: str) -> None:
    with running(any_url) as client:
        node = add_node(client)
        created = command(client, {"type": "all"}, timeout=5000)
        [row] = executions(client, command_id=created["id"])
        assert set(row) == EXECUTION_FIELDS
        assert row["status"] == "pending" and row["node_id"] == node and row["sent_at"] is None
        assert row["target_all"] is True and row["cluster_name"] is None
        assert row["timeout"] == 5000 and row["command_text"] == "echo hi"
        assert [str(i) for i in take(client, node)] == [row["id"]]
        sent = fetch(client, row["id"])
        assert sent["status"] == "sent" and sent["sent_at"] and sent["completed_at"] is None
        assert report(client, node, row["id"], 5, "Failed to restart nginx.service\n")
        done = fetch(client, row["id"])
        assert done["status"] == "completed" and done["exit_code"] == 5
        assert done["output"] == "Failed to restart nginx.service\n" and done["completed_at"]
        assert done["cancelled_at"] is None
        error(cancel(client, row["id"]), 409, "conflict")
        assert [e for e, _ in reasons(client, row["id"])] == ["created", "sent", "completed"]
        assert client.delete(f"{BASE}/{row['id']}", headers=AUTH).status_code == 204
        error(client.get(f"{BASE}/{row['id']}", headers=AUTH), 404, "not_found")
        assert [e for e, _ in reasons(client, row["id"])][-1] == "pruned"


def test_cancelling_a_pending_execution_ends_it_at_once() -> None:
    with running() as client:
        node = add_node(client)
        created = command(client, {"type": "all"})
        [row] = executions(client, command_id=created["id"])
        assert data(cancel(client, row["id"])) == {"result": "cancelled"}
        ended = fetch(client, row["id"])
        assert ended["status"] == "cancelled" and ended["cancelled_at"]
        assert ended["exit_code"] is None and ended["sent_at"] is None
        assert take(client, node) == []  # never handed out
        assert reasons(client, row["id"])[-1] == ("cancelled", "cancelled before it was sent")
        error(cancel(client, row["id"]), 409, "conflict")


def test_cancelling_a_sent_execution_asks_the_agent_which_honours_it() -> None:
    with running() as client:
        node = add_node(client)
        command(client, {"type": "all"})
        [exec_id] = take(client, node)
        assert data(cancel(client, exec_id)) == {"result": "cancellation request sent"}
        assert data(cancel(client, exec_id)) == {"result": "cancellation request sent"}
        assert fetch(client, exec_id)["status"] == "sent"  # the agent decides
        work = services_of(client).executions.next_work(UUID(node), [exec_id])
        assert work.cancel == [exec_id] and work.executions == []
        assert report(client, node, exec_id, 143, "Terminated")
        row = fetch(client, exec_id)
        assert row["status"] == "cancelled" and row["exit_code"] == 143 and row["cancelled_at"]
        assert row["output"] == "Terminated" and row["completed_at"] is None
        error(cancel(client, exec_id), 409, "conflict")


def test_a_cancel_that_comes_too_late_ends_completed() -> None:
    with running() as client:
        node = add_node(client)
        command(client, {"type": "all"})
        [exec_id] = take(client, node)
        assert data(cancel(client, exec_id)) == {"result": "cancellation request sent"}
        assert report(client, node, exec_id, 0, "done\n")  # it had already finished
        row = fetch(client, exec_id)
        assert row["status"] == "completed" and row["exit_code"] == 0
        assert row["cancelled_at"] is None and row["output"] == "done\n"


def test_expiry_is_terminal_and_late_results_are_dropped() -> None:
    clock = fixed_clock()
    with running(clock=clock, scheduler_interval=3600.0) as client:
        node = add_node(client)
        deadline = iso(clock.now().replace(minute=5))
        created = command(client, {"type": "all"}, expired_at=deadline)
        other = command(client, {"type": "all"}, expired_at=deadline)
        [row] = executions(client, command_id=created["id"])
        assert row["expired_at"] == deadline
        running_id = row["id"]
        assert running_id in {str(i) for i in take(client, node)}  # both handed out
        clock.advance(600)
        schedule_once(services_of(client))
        for command_id in (created["id"], other["id"]):
            [ended] = executions(client, command_id=command_id)
            assert ended["status"] == "expired"
        assert reasons(client, row["id"])[-1] == ("expired", "expired_at passed")
        assert not report(client, node, running_id, 0, "late")  # acknowledged, dropped
        late = fetch(client, running_id)
        assert late["status"] == "expired" and late["exit_code"] is None
        assert late["output"] is None
        error(cancel(client, running_id), 409, "conflict")
        assert client.delete(f"{BASE}/{running_id}", headers=AUTH).status_code == 204


def test_a_result_after_a_cancel_is_dropped() -> None:
    clock = fixed_clock()
    with running(clock=clock, scheduler_interval=3600.0) as client:
        node = add_node(client)
        command(client, {"type": "all"})
        [exec_id] = take(client, node)
        cancel(client, exec_id)
        clock.advance(10)  # the agent's journal never had it: the hand-out was lost
        assert take(client, node) == []
        assert fetch(client, exec_id)["status"] == "cancelled"
        assert not report(client, node, exec_id, 0, "ran anyway")
        row = fetch(client, exec_id)
        assert row["status"] == "cancelled" and row["exit_code"] is None
        assert row["output"] is None


def test_deleting_executions_needs_them_finished() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"]})
        found = by_node(client, created["id"])
        pending, sent = found[nodes["b"]]["id"], found[nodes["a"]]["id"]
        take(client, nodes["a"])
        for exec_id in (pending, sent):
            error(client.delete(f"{BASE}/{exec_id}", headers=AUTH), 409, "conflict")
        cancel(client, pending)
        assert client.delete(f"{BASE}/{pending}", headers=AUTH).status_code == 204
        error(client.delete(f"{BASE}/{pending}", headers=AUTH), 404, "not_found")
        assert [r["id"] for r in executions(client, command_id=created["id"])] == [sent]
        assert data(client.get(f"/api/v1/commands/{created['id']}", headers=AUTH))
        for method, path in (("GET", f"{BASE}/{MISSING}"), ("DELETE", f"{BASE}/{MISSING}"),
                             ("PATCH", f"{BASE}/{MISSING}/cancel")):
            error(client.request(method, path, headers=AUTH), 404, "not_found")
            error(client.request(method, path.replace(MISSING, "nope"), headers=AUTH), 400,
                  "bad_request", {"id"})


def test_node_deletion_cancels_its_open_work_and_keeps_history() -> None:
    with running() as client:
        nodes = fleet(client)
        first = command(client, {"type": "all"})
        second = command(client, {"type": "nodes", "node_ids": [nodes["c"]]})
        [done_id] = [r["id"] for r in executions(client, command_id=first["id"],
                                                  node_id=nodes["c"])]
        [sent_id] = [r["id"] for r in executions(client, command_id=second["id"])]
        assert {str(i) for i in take(client, nodes["c"])} == {done_id, sent_id}
        report(client, nodes["c"], done_id, 0, "ok")
        assert client.delete(f"/api/v1/nodes/{nodes['c']}", headers=AUTH).status_code == 204
        done, sent = fetch(client, done_id), fetch(client, sent_id)
        assert done["node_id"] is None and sent["node_id"] is None
        assert done["status"] == "completed" and done["exit_code"] == 0  # history as it was
        assert sent["status"] == "cancelled" and sent["cancelled_at"]
        assert reasons(client, sent_id)[-1] == ("cancelled", "node deleted")
        others = executions(client, command_id=first["id"])
        assert sorted(r["node_id"] or "" for r in others) == sorted(
            ["", nodes["a"], nodes["b"]])
        assert {r["status"] for r in others if r["node_id"]} == {"pending"}
        assert executions(client, node_id=nodes["c"]) == []
        assert not report(client, nodes["c"], sent_id, 0, "")  # too late: dropped
        error(cancel(client, sent_id), 409, "conflict")
        assert client.delete(f"/api/v1/commands/{second['id']}", headers=AUTH).status_code == 204


def test_cluster_name_filter_follows_the_node() -> None:
    with running() as client:
        nodes = fleet(client)
        created = command(client, {"type": "clusters", "cluster_names": ["prod"]})
        data(client.patch(f"/api/v1/nodes/{nodes['a']}/change_cluster", headers=AUTH,
                          json={"cluster_name": "staging"}))
        for pattern in ("staging", "stag*", "*ing"):
            staging = executions(client, cluster_name=pattern)
            assert [r["node_id"] for r in staging] == [nodes["a"]], pattern
            assert staging[0]["cluster_name"] == "prod"  # the cluster the command named
        assert [r["node_id"] for r in executions(client, cluster_name="prod")] == [nodes["b"]]
        assert executions(client, cluster_name="stag") == []  # exact without a wildcard
        assert len(executions(client, has_cluster="true", command_id=created["id"])) == 2
        everything = command(client, {"type": "all"})
        assert executions(client, has_cluster="true", command_id=everything["id"]) == []
        assert len(executions(client, has_cluster="false")) == 3
        assert len(executions(client, target_all="true")) == 3
        assert len(executions(client, target_all="false")) == 2


def test_list_filters_on_results_and_times() -> None:
    clock = fixed_clock()
    with running(clock=clock, scheduler_interval=3600.0) as client:
        nodes = fleet(client)
        created = command(client, {"type": "all"})
        ids = {n: e["id"] for n, e in by_node(client, created["id"]).items()}
        take(client, nodes["a"])
        take(client, nodes["b"])
        clock.advance(86400)
        report(client, nodes["a"], ids[nodes["a"]], 0, "all good\n")
        report(client, nodes["b"], ids[nodes["b"]], 2, "disk failed")
        cancel(client, ids[nodes["c"]])
        a, b, c = ids[nodes["a"]], ids[nodes["b"]], ids[nodes["c"]]
        cases: list[tuple[dict[str, str], set[str]]] = [
            ({"status": "completed"}, {a, b}), ({"status": "cancelled"}, {c}),
            ({"status": "pending"}, set()), ({"exit_code": "0"}, {a}),
            ({"exit_code__gte": "1"}, {b}), ({"exit_code__lte": "1"}, {a}),
            ({"output": "*failed"}, {b}), ({"output": "all good\n"}, {a}),
            ({"output": "good"}, set()), ({"has_output": "true"}, {a, b}),
            ({"has_output": "false"}, {c}), ({"node_id": nodes["b"]}, {b}),
            ({"sent_at__lte": "2026-01-01"}, {a, b}), ({"sent_at__gte": "2026-01-02"}, set()),
            ({"completed_at__gte": "2026-01-02"}, {a, b}),
            ({"completed_at__lte": "2026-01-01T23:59:59Z"}, set()),
            ({"cancelled_at__gte": "2026-01-02T00:00:00Z"}, {c}),
            ({"inserted_at__lte": "2026-01-01"}, {a, b, c}),
            ({"updated_at__lte": "2026-01-01"}, set()),
            ({"command_id": MISSING}, set()),
        ]
        for params, expected in cases:
            assert {r["id"] for r in executions(client, **params)} == expected, params
        rows = executions(client, order_by="exit_code", order_directions="desc")
        assert [r["id"] for r in rows] == [c, b, a]  # NULLs first descending, last ascending
        assert [r["id"] for r in executions(client, order_by="exit_code")] == [a, b, c]


def test_list_pages_sorts_and_rejects_bad_parameters() -> None:
    with running() as client:
        fleet(client)
        command(client, {"type": "all"})
        rows, pagination = page(client.get(BASE, headers=AUTH,
                                           params={"page_size": 2, "order_by": "status"}))
        assert len(rows) == 2 and pagination["total_count"] == 3
        assert pagination["total_pages"] == 2 and pagination["next_page"] == 2
        rows, pagination = page(client.get(BASE, headers=AUTH, params={"page": 2,
                                                                        "page_size": 2}))
        assert len(rows) == 1 and pagination["prev_page"] == 1 and not pagination["has_next"]
        bad = {"status": "running", "expired_at__gte": "2026-01-01", "exit_code": "zero",
               "node_id": "nope", "target_all": "maybe", "sent_at__gte": "soon",
               "order_by": "output"}
        for name, value in bad.items():
            error(client.get(BASE, headers=AUTH, params={name: value}), 400, "bad_request",
                  {name})


def test_integer_filters_beyond_64_bits_are_400(sqlite_url: str) -> None:
    with running(sqlite_url) as client:
        error(client.get(BASE, headers=AUTH, params={"exit_code__gte": str(2**64)}), 400,
              "bad_request", {"exit_code__gte"})
