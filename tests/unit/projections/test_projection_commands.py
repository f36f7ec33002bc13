"""Read-model changes for commands, executions, self-update requests and the node events that
touch them: `changes_for` is a pure mapping, so each event's changes are checked exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.command import Command, execution_id
from domain.command_execution import CommandExecution
from domain.node import IdType, Node
from domain.self_update import SelfUpdateRequest
from projections.fleet import HANDLERS, changes_for
from projections.fleet_tables import FLEET_TABLES
from projections.model import Delete, Patch, Upsert, UpsertMax

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
COLUMNS = {t.name: {c.name for c in t.columns} for t in FLEET_TABLES}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def only(aggregate: Any) -> Any:
    [event] = aggregate.collect_events()
    return event


def new_execution(node_id: UUID | None = None) -> CommandExecution:
    command_id, node_id = uuid4(), node_id or uuid4()
    return CommandExecution(
        id=execution_id(command_id, node_id), command_id=command_id, node_id=node_id,
        cluster_name="prod", target_all=False, command_text="uptime", timeout=1000,
        expired_at=at(60), node_cluster_name="prod-east", at=at(0),
    )


def patch(execution: CommandExecution, **fields: Any) -> list[Any]:
    return [Patch("command_executions", {"id": execution.id}, fields)]


def test_command_created_and_deleted() -> None:
    nodes = [uuid4(), uuid4()]
    command = Command.issue(uuid4(), "echo hi", {"type": "nodes", "node_ids": [str(n) for n in
                            nodes]}, 5000, at(30), nodes, at(0))
    assert changes_for(only(command)) == [Upsert("commands", {
        "id": command.id, "command_text": "echo hi",
        "targeting": '{"node_ids": [' + ", ".join(f'"{n}"' for n in nodes) + '], "type": "nodes"}',
        "timeout": 5000, "expired_at": at(30), "execution_count": 2,
        "inserted_at": at(0), "updated_at": at(0)})]
    command.delete(at(1))
    assert changes_for(only(command)) == [Delete("commands", {"id": command.id})]


def test_execution_created_writes_a_whole_pending_row() -> None:
    execution = new_execution()
    [upsert] = changes_for(only(execution))
    assert isinstance(upsert, Upsert) and upsert.table == "command_executions"
    assert set(upsert.row) == COLUMNS["command_executions"]
    assert upsert.row == {
        "id": execution.id, "command_id": execution.command_id, "node_id": execution.node_id,
        "node_cluster_name": "prod-east", "cluster_name": "prod", "target_all": False,
        "command_text": "uptime", "timeout": 1000, "expired_at": at(60), "status": "pending",
        "cancel_requested": False, "sent_at": None, "completed_at": None, "cancelled_at": None,
        "exit_code": None, "output": None, "reason": None,
        "inserted_at": at(0), "updated_at": at(0)}


def test_sending_and_redelivering_move_sent_at() -> None:
    execution = new_execution()
    execution.collect_events()
    execution.send(at(1))
    assert changes_for(only(execution)) == patch(
        execution, status="sent", sent_at=at(1), updated_at=at(1))
    execution.send(at(2))
    assert changes_for(only(execution)) == patch(execution, sent_at=at(2), updated_at=at(2))


def test_cancel_request_then_the_agents_answer() -> None:
    execution = new_execution()
    execution.send(at(1))
    execution.collect_events()
    execution.cancel(at(2))
    assert changes_for(only(execution)) == patch(
        execution, cancel_requested=True, updated_at=at(2))
    execution.report(143, "Terminated", at(3))
    assert changes_for(only(execution)) == patch(
        execution, status="cancelled", cancelled_at=at(3), exit_code=143, output="Terminated",
        reason="the agent honoured the cancellation", updated_at=at(3))


def test_completed_records_the_result() -> None:
    execution = new_execution()
    execution.send(at(1))
    execution.collect_events()
    execution.report(5, "Unit not found", at(4))
    assert changes_for(only(execution)) == patch(
        execution, status="completed", completed_at=at(4), exit_code=5, output="Unit not found",
        updated_at=at(4))


@pytest.mark.parametrize(("end", "status", "reason"), [
    (lambda e: e.cancel(at(5)), "cancelled", "cancelled before it was sent"),
    (lambda e: e.abandon("node deleted", at(5)), "cancelled", "node deleted"),
    (lambda e: e.expire("expired_at passed", at(5)), "expired", "expired_at passed"),
])
def test_endings_without_a_result(end: Any, status: str, reason: str) -> None:
    execution = new_execution()
    execution.collect_events()
    end(execution)
    fields: dict[str, Any] = {"status": status, "reason": reason, "updated_at": at(5)}
    if status == "cancelled":
        fields.update(cancelled_at=at(5), exit_code=None, output=None)
    if reason == "node deleted":
        fields["node_id"] = None  # history keeps the execution, not the deleted node's id
    assert changes_for(only(execution)) == patch(execution, **fields)


def test_pruned_deletes_the_row() -> None:
    execution = new_execution()
    execution.expire("expired_at passed", at(1))
    execution.collect_events()
    execution.prune(at(2))
    assert changes_for(only(execution)) == [Delete("command_executions", {"id": execution.id})]


def test_self_update_request_lifecycle() -> None:
    request = SelfUpdateRequest(id=uuid4(), targeting={"type": "all"}, at=at(0))
    [created] = changes_for(only(request))
    assert isinstance(created, Upsert) and set(created.row) == COLUMNS["self_update_requests"]
    assert created.row == {
        "id": request.id, "targeting": '{"type": "all"}', "status": "pending", "total": None,
        "triggered": None, "failed": None, "inserted_at": at(0), "updated_at": at(0)}
    a, b, c = uuid4(), uuid4(), uuid4()
    request.start([a, b, c], at(1))
    by_id = {"id": request.id}
    assert changes_for(only(request)) == [Patch(
        "self_update_requests", by_id, {"status": "processing", "total": 3, "updated_at": at(1)})]
    request.record([a, b], [], at(2))
    assert changes_for(only(request)) == []  # progress is internal; the summary comes at the end
    request.record([], [c], at(3))
    progressed, completed = request.collect_events()
    assert changes_for(progressed) == []
    assert changes_for(completed) == [Patch("self_update_requests", by_id, {
        "status": "completed", "total": 3, "triggered": 2, "failed": 1, "updated_at": at(3)})]
    request.delete(at(4))
    assert changes_for(only(request)) == [Delete("self_update_requests", by_id)]


def new_node() -> Node:
    node = Node.register(uuid4(), uuid4(), "prod", IdType.RANDOM, "1.0.0", True, {},
                         ("token", "password"), uuid4(), at(0))
    node.collect_events()
    return node


def test_node_deletion_keeps_executions_with_a_null_node() -> None:
    node = new_node()
    node.delete(at(1))
    assert changes_for(only(node)) == [
        Delete("nodes", {"id": node.id}),
        Delete("node_liveness", {"node_id": node.id}, "last_seen_at", at(1)),
        Delete("node_metrics", {"node_id": node.id}),
        Patch("command_executions", {"node_id": node.id}, {"node_id": None}),
    ]


def test_node_moves_carry_its_executions_cluster() -> None:
    node = new_node()
    target = uuid4()
    node.move_to(target, "edge", at(1))
    changes = changes_for(only(node))
    assert changes[-1] == Patch("command_executions", {"node_id": node.id},
                                {"node_cluster_name": "edge"})
    assert Patch("nodes", {"id": node.id}, {"cluster_id": target, "cluster_name": "edge",
                                            "updated_at": at(1)}) in changes


def test_update_triggered_and_cleared_by_reregistration() -> None:
    node = new_node()
    request_id = uuid4()
    node.trigger_update(request_id, at(1))
    assert changes_for(only(node)) == [
        Patch("nodes", {"id": node.id}, {"update_request_id": request_id})]
    node.reregister("1.0.0", True, {}, None, None, at(2))
    changes = changes_for(only(node))
    assert changes[-1] == Patch("nodes", {"id": node.id}, {"update_request_id": None})
    assert any(isinstance(c, UpsertMax) and c.table == "node_liveness" for c in changes)


def test_every_command_event_has_a_handler_or_is_deliberately_internal() -> None:
    classes: list[Any] = [CommandExecution, Command, SelfUpdateRequest]
    events: dict[str, type[Any]] = {
        v.__qualname__: v for cls in classes for v in vars(cls).values()
        if isinstance(v, type) and issubclass(v, cls.Event) and v is not cls.Event}
    assert len(events) == 15
    internal = {"SelfUpdateRequest.Progressed"}
    assert {n for n, e in events.items() if e not in HANDLERS} == internal
