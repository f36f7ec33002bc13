"""Commands service (E30, E33, E36, E37): targets resolved once, cascade delete, cancel, node
deletion, and the edge.command_execution.* messages every transition leaves in the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from application.errors import NotFoundError
from application.event_log import messages_after, topics_of
from application.nodes import ChangeCluster
from domain.catalog import Message
from domain.command import execution_id
from domain.command_execution import ExecutionNotTerminalError, ExecutionTerminalError
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError, StateConflictError
from entrypoints.bootstrap import Services
from projections.query import Cond, ListQuery, Order
from tests.fakes import FixedClock


@dataclass
class Fleet:
    """In-memory services plus the few steps every command test needs."""

    services: Services
    clock: FixedClock

    def cluster(self, name: str) -> None:
        self.services.clusters.create(CreateCluster(name=name))

    def nodes(self, cluster_name: str, count: int = 1) -> list[UUID]:
        key_id = self.services.enrollment_keys.issue(
            cluster_name, msgspec.convert({"uses_remaining": None}, IssueEnrollmentKey))
        blob = self.row("enrollment_keys", key_id)["key"]
        return [self.services.nodes.enroll(EnrollNode(enrollment_key=blob)).node_id
                for _ in range(count)]

    def command(self, targeting: dict[str, Any] | None = None, **body: Any) -> UUID:
        raw = {"command_text": "uptime", "targeting": targeting or {"type": "all"}, **body}
        return self.services.commands.create(msgspec.convert(raw, CreateCommand))

    def row(self, table: str, key: UUID) -> dict[str, Any]:
        found = self.services.view.get(table, key)
        assert found is not None, f"{table} {key} is missing from the read model"
        return found

    def execution(self, command_id: UUID, node_id: UUID) -> dict[str, Any]:
        return self.row("command_executions", execution_id(command_id, node_id))

    def executions(self, command_id: UUID) -> list[dict[str, Any]]:
        query = ListQuery((Cond("command_id", "eq", command_id),), (Order("id"),), page_size=100)
        return self.services.view.query("command_executions", query).rows

    def targets(self, command_id: UUID) -> set[UUID]:
        return {r["node_id"] for r in self.executions(command_id)}

    def messages(self, subject: UUID | None = None) -> list[Message]:
        messages, _ = messages_after(self.services.store, 0, topics_of(()), 100_000)
        return [m for m in messages if subject is None or m.subject_id == subject]

    def statuses(self, subject: UUID) -> list[tuple[str, str]]:
        return [(m.type, m.data.status) for m in self.messages(subject)]  # type: ignore[attr-defined]


@pytest.fixture
def fleet(clocked_services: Services, clock: FixedClock) -> Fleet:
    return Fleet(clocked_services, clock)


def test_create_resolves_targets_once(fleet: Fleet) -> None:
    fleet.cluster("prod")
    first = fleet.nodes("prod", 2)
    deadline = fleet.clock.now() + timedelta(hours=1)
    command_id = fleet.command(timeout=30_000, expired_at=deadline.isoformat())
    later = fleet.nodes("prod")
    assert fleet.targets(command_id) == set(first)
    row = fleet.execution(command_id, first[0])
    assert (row["status"], row["command_text"], row["timeout"], row["expired_at"]) == (
        "pending", "uptime", 30_000, deadline)
    assert (row["target_all"], row["cluster_name"], row["node_cluster_name"]) == (
        True, None, "prod")
    assert (row["sent_at"], row["exit_code"], row["cancel_requested"]) == (None, None, False)
    command = fleet.row("commands", command_id)
    assert (command["execution_count"], command["inserted_at"]) == (2, fleet.clock.now())
    assert fleet.targets(fleet.command()) == {*first, *later}


def test_cluster_targeting_names_the_cluster_only_when_it_is_the_one(fleet: Fleet) -> None:
    for name in ("prod-east", "prod-west", "staging"):
        fleet.cluster(name)
    east, west, staging = (fleet.nodes(n)[0] for n in ("prod-east", "prod-west", "staging"))
    one = fleet.command({"type": "clusters", "cluster_names": ["prod-east"]})
    assert [(r["node_id"], r["cluster_name"], r["target_all"]) for r in fleet.executions(one)] \
        == [(east, "prod-east", False)]
    two = fleet.command({"type": "clusters", "cluster_names": ["prod-east", "staging", "nope"]})
    assert fleet.targets(two) == {east, staging}
    assert {r["cluster_name"] for r in fleet.executions(two)} == {None}
    glob = fleet.command({"type": "all", "cluster_filters": {"name": "prod*"}})
    assert fleet.targets(glob) == {east, west}
    refined = fleet.command({"type": "clusters", "cluster_names": ["prod-east", "prod-west"],
                             "node_filters": {"cluster_name": "*west"}})
    assert fleet.targets(refined) == {west}


def test_node_targeting_and_node_filters(fleet: Fleet) -> None:
    fleet.cluster("prod")
    a, b, c = fleet.nodes("prod", 3)
    fleet.services.nodes.set_status(b, NodeStatus.UNHEALTHY, "test")
    unknown = uuid4()
    listed = fleet.command({"type": "nodes", "node_ids": [str(a), str(b), str(a), str(unknown)]})
    assert fleet.targets(listed) == {a, b}
    assert {r["target_all"] for r in fleet.executions(listed)} == {False}
    healthy = fleet.command({"type": "all", "node_filters": {"status": "healthy"}})
    assert fleet.targets(healthy) == {a, c}
    since = (fleet.clock.now() + timedelta(days=1)).date().isoformat()
    assert fleet.targets(fleet.command({"type": "all",
                                        "node_filters": {"inserted_at__gte": since}})) == set()
    stored = msgspec.json.decode(fleet.row("commands", listed)["targeting"])
    assert stored["node_ids"] == [str(a), str(b), str(unknown)]  # deduplicated, as given


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"timeout": 0}, "timeout", "must be greater than 0"),
    ({"expired_at": "2020-01-01T00:00:00Z"}, "expired_at", "must be in the future"),
    ({"targeting": {"type": "nodes"}}, "targeting.node_ids", "can't be blank"),
    ({"targeting": {"type": "all", "node_filters": {"updated_at__lte": "soon"}}},
     "targeting.node_filters.updated_at__lte", "must be an ISO 8601 date or datetime"),
])
def test_create_refusals_store_nothing(
    fleet: Fleet, body: dict[str, Any], field: str, message: str
) -> None:
    fleet.cluster("prod")
    fleet.nodes("prod")
    before = fleet.messages()
    with pytest.raises(InvalidValueError) as refused:
        fleet.command(**body)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert fleet.messages() == before
    assert fleet.services.view.query("commands", ListQuery()).total == 0


def test_blank_text_is_refused_when_decoding(fleet: Fleet) -> None:
    with pytest.raises(msgspec.ValidationError):
        fleet.command(command_text="")


def test_a_command_reaching_no_node_is_created_empty(fleet: Fleet) -> None:
    command_id = fleet.command()
    assert fleet.row("commands", command_id)["execution_count"] == 0
    fleet.services.commands.delete(command_id)
    assert fleet.services.view.get("commands", command_id) is None


def test_delete_is_refused_while_any_execution_is_open(fleet: Fleet) -> None:
    fleet.cluster("prod")
    a, b = fleet.nodes("prod", 2)
    command_id = fleet.command()
    fleet.services.commands.cancel_execution(execution_id(command_id, a))
    with pytest.raises(ExecutionNotTerminalError) as refused:
        fleet.services.commands.delete(command_id)
    assert isinstance(refused.value, StateConflictError)
    # One transaction: the terminal execution was not pruned either.
    assert len(fleet.executions(command_id)) == 2
    assert fleet.services.view.get("commands", command_id) is not None
    assert fleet.execution(command_id, b)["status"] == "pending"


def test_delete_cascades_to_every_execution(fleet: Fleet) -> None:
    fleet.cluster("prod")
    a, b, c = fleet.nodes("prod", 3)
    command_id = fleet.command()
    work = fleet.services.executions.next_work(a, [])
    fleet.services.executions.report(a, work.executions[0].id, 0, "ok")
    fleet.services.commands.cancel_execution(execution_id(command_id, b))
    fleet.services.commands.cancel_execution(execution_id(command_id, c))
    fleet.services.commands.delete_execution(execution_id(command_id, c))  # pruned already
    fleet.services.commands.delete(command_id)
    assert fleet.services.view.get("commands", command_id) is None
    assert fleet.executions(command_id) == []
    pruned = [m for m in fleet.messages() if m.type == "edge.command_execution.pruned"]
    assert sorted(m.subject_id for m in pruned) == sorted(
        execution_id(command_id, n) for n in (a, b, c))
    for gone in (command_id, uuid4()):
        with pytest.raises(NotFoundError):
            fleet.services.commands.delete(gone)


def test_cancel_pending_sent_and_terminal(fleet: Fleet) -> None:
    fleet.cluster("prod")
    pending_node, sent_node = fleet.nodes("prod", 2)
    command_id = fleet.command()
    pending = execution_id(command_id, pending_node)
    sent = execution_id(command_id, sent_node)
    fleet.services.executions.next_work(sent_node, [])
    fleet.clock.advance(1)
    assert fleet.services.commands.cancel_execution(pending) == "cancelled"
    row = fleet.row("command_executions", pending)
    assert (row["status"], row["cancelled_at"], row["exit_code"]) == (
        "cancelled", fleet.clock.now(), None)
    assert fleet.services.commands.cancel_execution(sent) == "cancellation request sent"
    assert fleet.services.commands.cancel_execution(sent) == "cancellation request sent"
    row = fleet.row("command_executions", sent)
    assert (row["status"], row["cancel_requested"], row["cancelled_at"]) == ("sent", True, None)
    with pytest.raises(ExecutionTerminalError) as refused:
        fleet.services.commands.cancel_execution(pending)
    assert isinstance(refused.value, StateConflictError)
    with pytest.raises(NotFoundError):
        fleet.services.commands.cancel_execution(uuid4())


def test_expired_executions_are_terminal_for_cancel_and_deletable(fleet: Fleet) -> None:
    fleet.cluster("prod")
    [node] = fleet.nodes("prod")
    deadline = fleet.clock.now() + timedelta(seconds=30)
    exec_id = execution_id(fleet.command(expired_at=deadline.isoformat()), node)
    fleet.clock.advance(31)
    assert fleet.services.executions.expire_due() == 1
    with pytest.raises(ExecutionTerminalError):
        fleet.services.commands.cancel_execution(exec_id)
    fleet.services.commands.delete_execution(exec_id)
    assert fleet.services.view.get("command_executions", exec_id) is None


def test_delete_execution_only_when_terminal(fleet: Fleet) -> None:
    fleet.cluster("prod")
    [node] = fleet.nodes("prod")
    exec_id = execution_id(fleet.command(), node)
    with pytest.raises(ExecutionNotTerminalError):
        fleet.services.commands.delete_execution(exec_id)
    fleet.services.executions.next_work(node, [])
    with pytest.raises(ExecutionNotTerminalError):
        fleet.services.commands.delete_execution(exec_id)
    fleet.services.executions.report(node, exec_id, 3, "failed")
    fleet.services.commands.delete_execution(exec_id)
    assert fleet.services.view.get("command_executions", exec_id) is None
    for gone in (exec_id, uuid4()):
        with pytest.raises(NotFoundError):
            fleet.services.commands.delete_execution(gone)
        with pytest.raises(NotFoundError):
            fleet.services.commands.cancel_execution(gone)


def test_node_deletion_cancels_open_executions_and_keeps_history(fleet: Fleet) -> None:
    fleet.cluster("prod")
    gone, stays = fleet.nodes("prod", 2)
    done = fleet.command()
    work = fleet.services.executions.next_work(gone, [])
    fleet.services.executions.report(gone, work.executions[0].id, 0, "ok")
    sent = fleet.command()
    fleet.clock.advance(1)
    pending = fleet.command()
    fleet.services.executions.next_work(gone, [], limit=1)  # the oldest open one
    assert fleet.execution(sent, gone)["status"] == "sent"
    assert fleet.execution(pending, gone)["status"] == "pending"
    fleet.services.nodes.delete(gone)
    rows = {c: fleet.execution(c, gone) for c in (done, pending, sent)}
    assert {c: (r["status"], r["node_id"]) for c, r in rows.items()} == {
        done: ("completed", None), pending: ("cancelled", None), sent: ("cancelled", None)}
    assert rows[pending]["reason"] == "node deleted"
    assert fleet.execution(pending, stays)["node_id"] == stays
    cancelled = [m for m in fleet.messages(execution_id(sent, gone))
                 if m.type == "edge.command_execution.cancelled"]
    assert [(m.data.node_id, m.data.reason) for m in cancelled] == [  # type: ignore[attr-defined]
        (gone, "node deleted")]
    fleet.services.commands.cancel_execution(execution_id(pending, stays))
    fleet.services.commands.delete(pending)  # every execution is terminal now


def test_executions_follow_their_node_to_another_cluster(fleet: Fleet) -> None:
    fleet.cluster("src")
    fleet.cluster("dst")
    [node] = fleet.nodes("src")
    command_id = fleet.command({"type": "clusters", "cluster_names": ["src"]})
    fleet.services.nodes.change_cluster(node, ChangeCluster(cluster_name="dst"))
    row = fleet.execution(command_id, node)
    assert (row["node_cluster_name"], row["cluster_name"]) == ("dst", "src")


def test_every_transition_is_a_catalog_message(fleet: Fleet) -> None:
    fleet.cluster("prod")
    [node] = fleet.nodes("prod")
    run = {"type": "clusters", "cluster_names": ["prod"]}
    deadline = (fleet.clock.now() + timedelta(seconds=10)).isoformat()
    completed = fleet.command(run)
    fleet.clock.advance(1)  # executions go out oldest first
    honoured = fleet.command(run)
    fleet.clock.advance(1)
    expired = fleet.command(run, expired_at=deadline)
    ids = {c: execution_id(c, node) for c in (completed, honoured, expired)}
    sent_at = fleet.clock.advance(1)
    assert len(fleet.services.executions.next_work(node, []).executions) == 3
    fleet.services.executions.report(node, ids[completed], 0, "ok")
    fleet.services.commands.cancel_execution(ids[honoured])
    fleet.services.executions.report(node, ids[honoured], 143, "")
    fleet.services.commands.delete(completed)
    cancelled = fleet.command(run)
    ids[cancelled] = execution_id(cancelled, node)
    fleet.services.commands.cancel_execution(ids[cancelled])
    fleet.clock.advance(10)
    assert fleet.services.executions.expire_due() == 1
    c, s = "edge.command_execution.created", "edge.command_execution.sent"
    assert fleet.statuses(ids[completed]) == [
        (c, "pending"), (s, "sent"), ("edge.command_execution.completed", "completed"),
        ("edge.command_execution.pruned", "pruned")]
    assert fleet.statuses(ids[honoured]) == [
        (c, "pending"), (s, "sent"), ("edge.command_execution.cancelled", "cancelled")]
    assert fleet.statuses(ids[cancelled]) == [
        (c, "pending"), ("edge.command_execution.cancelled", "cancelled")]
    assert fleet.statuses(ids[expired]) == [
        (c, "pending"), (s, "sent"), ("edge.command_execution.expired", "expired")]
    sent = [m for m in fleet.messages(ids[completed]) if m.type == s]
    data: Any = sent[0].data
    assert (data.execution_id, data.command_id, data.node_id, data.cluster_name) == (
        ids[completed], completed, node, "prod")
    assert sent[0].occurred_at == sent_at
    reasons = {m.subject_id: (m.data.exit_code, m.data.reason)  # type: ignore[attr-defined]
               for m in fleet.messages() if m.type.rsplit(".", 1)[1] in ("cancelled", "expired")}
    assert reasons == {
        ids[honoured]: (143, "the agent honoured the cancellation"),
        ids[cancelled]: (None, "cancelled before it was sent"),
        ids[expired]: (None, "expired_at passed"),
    }
