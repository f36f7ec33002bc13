"""Executions service: handing work to agents, their results, and the scheduler's duties
(expiry, orphans, unreachable nodes) on in-memory services with a hand-moved clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.commands import Commands, CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from application.errors import NotFoundError
from application.executions import BATCH, Reported, cap_output
from application.ports import Target
from application.self_updates import CreateSelfUpdateRequest
from application.write_path import UnitOfWork
from domain.cluster import Cluster
from domain.command import execution_id
from domain.command_execution import OUTPUT_LIMIT, CommandExecution
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.targeting import Targeting, TargetType
from entrypoints.bootstrap import Services
from entrypoints.workers.scheduler import schedule_once
from tests.fakes import FixedClock


@dataclass
class Fleet:
    """In-memory services plus the few steps every execution test needs."""

    services: Services
    clock: FixedClock

    def nodes(self, count: int, cluster_name: str = "prod", updates: bool = False) -> list[UUID]:
        if self.services.view.select("clusters", {"name": cluster_name}) == []:
            self.services.clusters.create(CreateCluster(name=cluster_name))
        key_id = self.services.enrollment_keys.issue(
            cluster_name, msgspec.convert({"uses_remaining": None}, IssueEnrollmentKey))
        blob = self.row(key_id, "enrollment_keys")["key"]
        enroll = EnrollNode(enrollment_key=blob, self_update_enabled=updates)
        return [self.services.nodes.enroll(enroll).node_id for _ in range(count)]

    def command(self, commands: Commands | None = None, **body: Any) -> UUID:
        raw = {"command_text": "uptime", "targeting": {"type": "all"}, **body}
        return (commands or self.services.commands).create(msgspec.convert(raw, CreateCommand))

    def row(self, key: UUID, table: str = "command_executions") -> dict[str, Any]:
        found = self.services.view.get(table, key)
        assert found is not None, f"{table} {key} is missing from the read model"
        return found

    def status(self, exec_id: UUID) -> str:
        return str(self.row(exec_id)["status"])

    def handed(self, node_id: UUID, running: list[UUID] | None = None) -> list[UUID]:
        return [a.id for a in self.services.executions.next_work(node_id, running or []).executions]

    def deliveries(self, exec_id: UUID) -> int:
        execution: object = self.services.store.repository.get(exec_id)
        assert isinstance(execution, CommandExecution)
        return execution.deliveries


@pytest.fixture
def fleet(clocked_services: Services, clock: FixedClock) -> Fleet:
    return Fleet(clocked_services, clock)


def test_next_work_hands_out_pending_executions_oldest_first(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    deadline = fleet.clock.now() + timedelta(hours=1)
    first = fleet.command(command_text="echo 1", timeout=5000, expired_at=deadline.isoformat())
    fleet.clock.advance(1)
    second = fleet.command(command_text="echo 2")
    work = fleet.services.executions.next_work(node, [], limit=1)
    [assignment] = work.executions
    assert (assignment.id, assignment.command_id, assignment.command_text) == (
        execution_id(first, node), first, "echo 1")
    assert (assignment.timeout, assignment.expired_at, work.cancel) == (5000, deadline, [])
    row = fleet.row(assignment.id)
    assert (row["status"], row["sent_at"]) == ("sent", fleet.clock.now())
    assert fleet.handed(node, [assignment.id]) == [execution_id(second, node)]
    assert fleet.handed(node, [assignment.id, execution_id(second, node)]) == []


def test_other_nodes_work_is_not_handed_out(fleet: Fleet) -> None:
    mine, other = fleet.nodes(2)
    command_id = fleet.command(targeting={"type": "nodes", "node_ids": [str(other)]})
    assert fleet.handed(mine) == []
    assert fleet.handed(uuid4()) == []
    assert fleet.status(execution_id(command_id, other)) == "pending"


def test_lost_executions_are_handed_out_again_after_two_seconds(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(), node)
    assert fleet.handed(node) == [exec_id]
    assert fleet.handed(node) == []  # the agent may not have journalled it yet
    fleet.clock.advance(2.5)
    assert fleet.handed(node, [exec_id]) == []  # held by the agent: nothing to do
    assert fleet.handed(node) == [exec_id]  # the answer was lost: send it again
    assert fleet.deliveries(exec_id) == 2
    # A redelivery is a send: the same grace applies before the next one.
    assert fleet.handed(node) == []
    fleet.clock.advance(2.5)
    assert fleet.handed(node) == [exec_id]
    assert (fleet.deliveries(exec_id), fleet.status(exec_id)) == (3, "sent")


def test_a_waiting_poll_is_told_when_a_lost_execution_falls_due(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(), node)
    assert fleet.handed(node) == [exec_id]
    fleet.clock.advance(0.5)
    work = fleet.services.executions.next_work(node, [])
    assert work.executions == [] and work.redeliver_in == pytest.approx(1.5)
    # Held by the agent: nothing falls due; past the grace it is handed out, not waited for.
    assert fleet.services.executions.next_work(node, [exec_id]).redeliver_in is None
    fleet.clock.advance(1.5)
    assert fleet.handed(node) == [exec_id]


def test_cancel_requests_reach_the_agent_that_holds_the_execution(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    held, lost = (execution_id(fleet.command(), node) for _ in range(2))
    assert sorted(fleet.handed(node)) == sorted([held, lost])
    for exec_id in (held, lost):
        fleet.services.commands.cancel_execution(exec_id)
    work = fleet.services.executions.next_work(node, [held])
    assert (work.executions, work.cancel) == ([], [held])
    fleet.clock.advance(3)
    work = fleet.services.executions.next_work(node, [held])
    # `lost` never reached the agent, so it never ran: the cancel is honoured at once.
    assert (work.executions, work.cancel) == ([], [held])
    row = fleet.row(lost)
    assert (row["status"], row["reason"]) == ("cancelled", "cancelled before the agent received it")
    assert fleet.status(held) == "sent"
    assert fleet.services.executions.report(node, held, 143, "Terminated") == Reported(
        "cancelled", True)
    assert fleet.services.executions.next_work(node, [held]).cancel == []


def test_report_records_the_result_once(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(), node)
    assert fleet.services.executions.report(node, exec_id, 0, "early") == Reported(
        "pending", False)
    fleet.handed(node)
    fleet.clock.advance(4)
    assert fleet.services.executions.report(node, exec_id, 5, "Unit not found\n") == Reported(
        "completed", True)
    row = fleet.row(exec_id)
    assert (row["status"], row["exit_code"], row["output"], row["completed_at"]) == (
        "completed", 5, "Unit not found\n", fleet.clock.now())
    assert fleet.services.executions.report(node, exec_id, 0, "again") == Reported(
        "completed", False)
    assert (fleet.row(exec_id)["exit_code"], fleet.row(exec_id)["output"]) == (
        5, "Unit not found\n")


def test_report_by_another_node_or_for_an_unknown_execution_is_not_found(fleet: Fleet) -> None:
    mine, other = fleet.nodes(2)
    exec_id = execution_id(fleet.command(), mine)
    fleet.handed(mine)
    for node, target in ((other, exec_id), (mine, uuid4()), (mine, fleet.command())):
        with pytest.raises(NotFoundError):
            fleet.services.executions.report(node, target, 0, "")
    assert fleet.status(exec_id) == "sent"


def test_stored_output_is_capped_keeping_head_and_tail(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(), node)
    fleet.handed(node)
    output = "H" * 40_000 + "m" * 50_000 + "T" * 40_000
    fleet.services.executions.report(node, exec_id, 1, output)
    stored = fleet.row(exec_id)["output"]
    assert len(stored) == OUTPUT_LIMIT
    assert stored.startswith("H" * 30_000) and stored.endswith("T" * 30_000)
    assert "characters omitted by edge-admin" in stored


@settings(max_examples=200, deadline=None)  # 200 kB strings: slow on a loaded machine
@given(size=st.integers(0, 200_000), limit=st.integers(80, 70_000))
def test_cap_output_keeps_the_limit_and_says_exactly_how_much_it_cut(size: int, limit: int) -> None:
    output = "".join(chr(ord("a") + i % 26) for i in range(size))
    capped = cap_output(output, limit=limit)
    if size <= limit:
        assert capped == output
        return
    assert len(capped) == limit
    head, marker, tail = capped.split("\n")
    omitted = int(marker.split()[1])
    assert (head, tail) == (output[: len(head)], output[size - len(tail):])
    assert len(head) + omitted + len(tail) == size
    assert abs(len(head) - len(tail)) <= 1


def test_expire_due_ends_open_executions_of_expired_commands(fleet: Fleet) -> None:
    done, sent, pending = fleet.nodes(3)
    deadline = fleet.clock.now() + timedelta(seconds=60)
    command_id = fleet.command(expired_at=deadline.isoformat())
    forever = fleet.command()
    ids = {n: execution_id(command_id, n) for n in (done, sent, pending)}
    fleet.handed(done)
    fleet.handed(sent, [ids[done]])
    fleet.services.executions.report(done, ids[done], 0, "")
    fleet.clock.advance(59)
    assert fleet.services.executions.expire_due() == 0
    fleet.clock.advance(1)  # expired_at itself is due
    assert fleet.services.executions.expire_due() == 2
    assert {n: fleet.status(i) for n, i in ids.items()} == {
        done: "completed", sent: "expired", pending: "expired"}
    assert fleet.row(ids[sent])["reason"] == "expired_at passed"
    assert fleet.services.executions.expire_due() == 0
    assert fleet.status(execution_id(forever, pending)) == "pending"
    assert fleet.services.executions.report(sent, ids[sent], 0, "late") == Reported(
        "expired", False)
    assert fleet.handed(pending) == [execution_id(forever, pending)]


@dataclass
class SnapshotTargets:
    """TargetFinder port answering with a resolution taken before the fleet changed."""

    targets: list[Target]

    def resolve(self, targeting: Targeting) -> list[Target]:
        return list(self.targets)

    async def resolve_async(self, targeting: Targeting) -> list[Target]:
        return list(self.targets)


def test_abandon_orphans_ends_executions_created_for_a_node_deleted_meanwhile(
    fleet: Fleet,
) -> None:
    stays, goes = fleet.nodes(2)
    resolved = fleet.services.commands.targets.resolve(Targeting(type=TargetType.ALL))
    fleet.services.nodes.delete(goes)  # commits between resolution and the command's save
    racing = Commands(fleet.services.writes, SnapshotTargets(resolved))
    command_id = fleet.command(racing)
    orphan = fleet.row(execution_id(command_id, goes))
    assert (orphan["node_id"], orphan["last_seen_at"], orphan["status"]) == (goes, None, "pending")
    assert fleet.services.executions.abandon_orphans() == 1
    orphan = fleet.row(execution_id(command_id, goes))
    assert (orphan["status"], orphan["reason"]) == ("cancelled", "node deleted")
    assert fleet.status(execution_id(command_id, stays)) == "pending"
    assert fleet.services.executions.abandon_orphans() == 0


def expire_unreachable(fleet: Fleet, listening_since: datetime | None = None) -> int:
    since = listening_since or fleet.services.started_at
    return fleet.services.executions.expire_unreachable(60, since)


def test_expire_unreachable_waits_for_the_grace(fleet: Fleet) -> None:
    unreachable, unhealthy, healthy = fleet.nodes(3)
    fleet.services.nodes.set_status(unreachable, NodeStatus.UNREACHABLE, "timeout")
    fleet.services.nodes.set_status(unhealthy, NodeStatus.UNHEALTHY, "heartbeat")
    command_id = fleet.command()
    ids = {n: execution_id(command_id, n) for n in (unreachable, unhealthy, healthy)}
    fleet.clock.advance(60)
    assert expire_unreachable(fleet) == 0  # last seen exactly 60 s ago
    fleet.clock.advance(1)
    # An admin up for less than the grace has not heard from the node long enough to judge.
    assert expire_unreachable(fleet, fleet.clock.now() - timedelta(seconds=59)) == 0
    assert fleet.services.executions.expire_unreachable(60, None) == 0
    assert expire_unreachable(fleet) == 1
    row = fleet.row(ids[unreachable])
    assert (row["status"], row["reason"]) == ("expired", "node unreachable for more than 60s")
    assert [fleet.status(ids[n]) for n in (unhealthy, healthy)] == ["pending", "pending"]
    assert expire_unreachable(fleet) == 0


def test_expire_unreachable_finds_work_behind_a_batch_of_idle_unreachable_nodes(
    fleet: Fleet,
) -> None:
    [first] = fleet.nodes(1)
    cluster_id = fleet.row(first, "nodes")["cluster_id"]
    idle = [uuid4() for _ in range(BATCH)]

    def register_dead_machines(uow: UnitOfWork) -> None:
        cluster = uow.get(Cluster, cluster_id, "cluster")
        for node_id in idle:
            cluster.admit(node_id)
            node = Node.register(node_id, cluster.id, cluster.name, IdType.RANDOM, None, False,
                                 {}, (uuid4().hex, uuid4().hex), uuid4(), uow.now)
            node.change_status(NodeStatus.UNREACHABLE, "timeout", uow.now)
            uow.add(node)

    fleet.services.writes.run(register_dead_machines)  # older than the node with work
    fleet.clock.advance(1)
    [busy] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(targeting={"type": "nodes", "node_ids": [str(busy)]}),
                           busy)
    fleet.services.nodes.set_status(busy, NodeStatus.UNREACHABLE, "timeout")
    fleet.clock.advance(120)
    assert expire_unreachable(fleet) == 1
    assert fleet.status(exec_id) == "expired"


def test_a_recent_heartbeat_keeps_unreachable_work_alive(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    exec_id = execution_id(fleet.command(), node)
    fleet.clock.advance(100)
    fleet.services.nodes.heartbeat(node, NodeStatus.UNHEALTHY)
    fleet.services.nodes.set_status(node, NodeStatus.UNREACHABLE, "timeout")
    assert expire_unreachable(fleet) == 0
    assert fleet.status(exec_id) == "pending"


def test_one_scheduler_pass_does_every_duty(fleet: Fleet) -> None:
    live, unreachable, goes = fleet.nodes(3, updates=True)
    deadline = fleet.clock.now() + timedelta(seconds=10)
    expiring = fleet.command(targeting={"type": "nodes", "node_ids": [str(live)]},
                             expired_at=deadline.isoformat())
    only_goes = {"type": "nodes", "node_ids": [str(goes)]}
    resolved = fleet.services.commands.targets.resolve(msgspec.convert(only_goes, Targeting))
    fleet.services.nodes.delete(goes)
    racing = Commands(fleet.services.writes, SnapshotTargets(resolved))
    orphaned = fleet.command(racing, targeting=only_goes)
    stuck = fleet.command(targeting={"type": "nodes", "node_ids": [str(unreachable)]})
    fleet.services.nodes.set_status(unreachable, NodeStatus.UNREACHABLE, "timeout")
    request_id = fleet.services.self_updates.create(
        msgspec.convert({"targeting": {"type": "all"}}, CreateSelfUpdateRequest))
    fleet.clock.advance(fleet.services.settings.execution_unreachable_grace + 1)
    assert schedule_once(fleet.services) == 4  # three executions and one self-update chunk
    assert [fleet.status(execution_id(c, n)) for c, n in (
        (expiring, live), (orphaned, goes), (stuck, unreachable))] == [
        "expired", "cancelled", "expired"]
    summary = fleet.row(request_id, "self_update_requests")
    assert (summary["status"], summary["total"], summary["triggered"]) == ("completed", 1, 1)
    assert schedule_once(fleet.services) == 0


def test_finished_executions_are_pruned_after_the_retention(fleet: Fleet) -> None:
    nodes = fleet.nodes(3)
    command_id = fleet.command()
    done, running, waiting = (execution_id(command_id, n) for n in nodes)
    fleet.handed(nodes[0])
    fleet.services.executions.report(nodes[0], done, 0, "ok")
    fleet.handed(nodes[1])
    executions = fleet.services.executions
    fleet.clock.advance(86_400 * 2)
    assert executions.prune_finished(retention_days=3) == 0  # finished 2 days ago: kept
    fleet.clock.advance(86_400 * 2)
    assert executions.prune_finished(retention_days=3) == 1
    assert fleet.services.view.get("command_executions", done) is None
    assert {fleet.status(running), fleet.status(waiting)} == {"sent", "pending"}  # open: kept
    assert executions.prune_finished(retention_days=3) == 0
