"""CommandExecution: the per-node lifecycle of spec 5.2, by example and as a state machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from application.store import EdgeStore
from domain.catalog import to_message
from domain.command_execution import (
    CANCELLED_EXIT_CODE,
    INTERRUPTED_EXIT_CODE,
    OUTPUT_LIMIT,
    TERMINAL,
    CommandExecution,
    ExecutionNotTerminalError,
    ExecutionTerminalError,
)
from domain.shared import InvalidValueError, StateConflictError

AT = datetime(2026, 1, 1, tzinfo=UTC)
ENDINGS = {"Completed": "completed", "Cancelled": "cancelled", "Expired": "expired"}
# The event that decides the status, per status (CancelRequested, Redelivered and Pruned don't).
STATUS_OF = {"Created": "pending", "Sent": "sent", **ENDINGS}


def new_execution(cluster_name: str | None = "prod") -> CommandExecution:
    return CommandExecution(
        id=uuid4(), command_id=uuid4(), node_id=uuid4(), cluster_name=cluster_name,
        target_all=False, command_text="echo hi", timeout=30_000,
        expired_at=AT + timedelta(hours=1), node_cluster_name="prod", at=AT,
    )


def names(execution: CommandExecution) -> list[str]:
    return [type(e).__name__ for e in execution.collect_events()]


def single(events: Sequence[Any]) -> Any:
    [event] = events
    return event


def replayed(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def sent() -> CommandExecution:
    execution = new_execution()
    assert execution.send(AT)
    execution.collect_events()
    return execution


def test_created_pending_with_its_refs() -> None:
    execution = new_execution()
    assert (execution.status, execution.deliveries, execution.is_open) == ("pending", 0, True)
    assert (execution.exit_code, execution.output, execution.cancel_requested) == (
        None, None, False)
    assert execution.version == 1


def test_send_then_redeliver_counts_deliveries() -> None:
    execution = new_execution()
    execution.collect_events()
    assert execution.send(AT)
    assert execution.send(AT)
    assert names(execution) == ["Sent", "Redelivered"]
    assert (execution.status, execution.deliveries) == ("sent", 2)


@pytest.mark.parametrize("exit_code", [0, 5, -1, CANCELLED_EXIT_CODE, INTERRUPTED_EXIT_CODE])
def test_report_completes_whatever_the_exit_code_without_a_cancel(exit_code: int) -> None:
    execution = sent()
    assert execution.report(exit_code, "out", AT)
    assert names(execution) == ["Completed"]
    assert (execution.status, execution.exit_code, execution.output) == (
        "completed", exit_code, "out")


def test_output_longer_than_the_limit_is_refused_the_service_cuts_it_first() -> None:
    execution = sent()
    assert execution.report(0, "x" * OUTPUT_LIMIT, AT)
    with pytest.raises(InvalidValueError):
        sent().report(0, "x" * (OUTPUT_LIMIT + 1), AT)


def test_a_late_report_is_acknowledged_but_changes_nothing() -> None:
    enders: list[Callable[[CommandExecution], object]] = [
        lambda e: e.expire("expired_at passed", AT), lambda e: e.abandon("node deleted", AT),
        lambda e: e.report(0, "first", AT)]
    for end in enders:
        execution = sent()
        end(execution)
        status, version = execution.status, execution.version
        execution.collect_events()
        assert execution.report(1, "late", AT) is False
        assert (execution.status, execution.version, names(execution)) == (status, version, [])
        assert execution.output != "late"
    assert new_execution().report(0, "never sent", AT) is False


def test_cancel_pending_ends_at_once() -> None:
    execution = new_execution()
    execution.collect_events()
    assert execution.cancel(AT) == "cancelled"
    cancelled: Any = single(execution.collect_events())
    assert type(cancelled).__name__ == "Cancelled"
    assert (cancelled.reason, cancelled.exit_code) == ("cancelled before it was sent", None)
    assert execution.status == "cancelled" and not execution.is_open


def test_cancel_sent_asks_the_agent_once() -> None:
    execution = sent()
    assert execution.cancel(AT) == "cancellation request sent"
    assert execution.cancel(AT) == "cancellation request sent"
    assert names(execution) == ["CancelRequested"]
    assert (execution.status, execution.cancel_requested) == ("sent", True)


def test_agent_honouring_the_cancel_ends_cancelled_with_its_output() -> None:
    execution = sent()
    execution.cancel(AT)
    execution.collect_events()
    assert execution.report(CANCELLED_EXIT_CODE, "Terminated", AT)
    assert names(execution) == ["Cancelled"]
    assert (execution.status, execution.exit_code, execution.output) == (
        "cancelled", 143, "Terminated")


def test_agent_that_already_ran_it_completes_despite_the_cancel() -> None:
    execution = sent()
    execution.cancel(AT)
    assert execution.report(0, "done", AT)
    assert (execution.status, execution.exit_code) == ("completed", 0)


def test_a_run_interrupted_after_the_cancel_was_asked_ends_cancelled() -> None:
    # The agent died with the command (or stopped it on its own stop) before it saw the
    # cancel, and reports it interrupted (137) once back: the command never finished.
    execution = sent()
    execution.cancel(AT)
    execution.collect_events()
    assert execution.report(INTERRUPTED_EXIT_CODE, "begun\n[edge-agent] interrupted", AT)
    cancelled: Any = single(execution.collect_events())
    assert type(cancelled).__name__ == "Cancelled"
    assert cancelled.reason == "interrupted before the agent could honour the cancellation"
    assert (execution.status, execution.exit_code, execution.output) == (
        "cancelled", 137, "begun\n[edge-agent] interrupted")


def test_cancel_requested_execution_handed_out_again_ends_cancelled() -> None:
    execution = sent()
    execution.cancel(AT)
    execution.collect_events()
    assert execution.send(AT) is False
    cancelled: Any = single(execution.collect_events())
    assert type(cancelled).__name__ == "Cancelled"
    assert cancelled.reason == "cancelled before the agent received it"
    assert execution.deliveries == 1


@pytest.mark.parametrize("ending", ["completed", "cancelled", "expired"])
def test_terminal_executions_refuse_cancel_and_ignore_send_expire_abandon(ending: str) -> None:
    execution = sent()
    {"completed": lambda: execution.report(0, "", AT),
     "cancelled": lambda: execution.abandon("node deleted", AT),
     "expired": lambda: execution.expire("expired_at passed", AT)}[ending]()
    execution.collect_events()
    with pytest.raises(ExecutionTerminalError) as refused:
        execution.cancel(AT)
    assert isinstance(refused.value, StateConflictError)
    assert ending in refused.value.message
    assert not execution.send(AT)
    assert not execution.expire("x", AT)
    assert not execution.abandon("x", AT)
    assert (execution.status, names(execution)) == (ending, [])


def test_expire_and_abandon_end_open_executions_with_a_reason() -> None:
    for execution in (new_execution(), sent()):
        execution.collect_events()
        assert execution.expire("expired_at passed", AT)
        expired: Any = single(execution.collect_events())
        assert (execution.status, expired.reason) == ("expired", "expired_at passed")
    for execution in (new_execution(), sent()):
        execution.collect_events()
        assert execution.abandon("node deleted", AT)
        cancelled: Any = single(execution.collect_events())
        assert (execution.status, cancelled.reason) == ("cancelled", "node deleted")


def test_prune_only_when_terminal_and_only_once() -> None:
    for execution in (new_execution(), sent()):
        with pytest.raises(ExecutionNotTerminalError):
            execution.prune(AT)
    execution = sent()
    execution.report(2, "boom", AT)
    execution.collect_events()
    execution.prune(AT)
    execution.prune(AT)
    assert names(execution) == ["Pruned"]
    assert execution.deleted and execution.status == "completed"


def test_every_lifecycle_event_becomes_a_catalog_message_naming_its_refs() -> None:
    execution = new_execution(cluster_name=None)
    execution.send(AT)
    execution.cancel(AT)
    execution.report(CANCELLED_EXIT_CODE, "", AT)
    execution.prune(AT)
    messages = [to_message(e, i) for i, e in enumerate(execution.collect_events(), start=1)]
    kinds = [(m.type, m.data.status) if m else None for m in messages]  # type: ignore[attr-defined]
    assert kinds == [
        ("edge.command_execution.created", "pending"), ("edge.command_execution.sent", "sent"),
        None,  # CancelRequested stays internal
        ("edge.command_execution.cancelled", "cancelled"),
        ("edge.command_execution.pruned", "pruned"),
    ]
    cancelled = messages[3]
    assert cancelled is not None
    data: Any = cancelled.data
    assert (data.execution_id, data.command_id, data.node_id, data.cluster_name) == (
        execution.id, execution.command_id, execution.node_id, None)
    assert (data.exit_code, data.reason) == (143, "the agent honoured the cancellation")


class ExecutionMachine(RuleBasedStateMachine):
    """Any order of agent, operator and scheduler actions against a model of spec 5.2."""

    @initialize()
    def create(self) -> None:
        self.store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.execution = new_execution()
        self.history: list[Any] = []
        self.status, self.cancel_requested, self.deleted = "pending", False, False
        self.deliveries = 0
        self.result: tuple[int | None, str | None] = (None, None)  # set by an accepted report
        self.expect(["Created"])

    def expect(self, events: list[str]) -> None:
        new = list(self.execution.pending_events)
        assert [type(e).__name__ for e in new] == events
        self.history += new
        self.store.save(self.execution)

    @property
    def open(self) -> bool:
        return self.status in ("pending", "sent")

    @rule()
    def send(self) -> None:
        handed = self.execution.send(AT)
        if self.status == "pending":
            self.status, self.deliveries = "sent", self.deliveries + 1
            assert handed
            self.expect(["Sent"])
        elif self.status == "sent" and self.cancel_requested:
            self.status = "cancelled"
            assert not handed
            self.expect(["Cancelled"])
        elif self.status == "sent":
            self.deliveries += 1
            assert handed
            self.expect(["Redelivered"])
        else:
            assert not handed
            self.expect([])

    @rule(exit_code=st.sampled_from([CANCELLED_EXIT_CODE, INTERRUPTED_EXIT_CODE])
          | st.integers(-(2**31), 2**31 - 1),
          output=st.text(max_size=10))
    def report(self, exit_code: int, output: str) -> None:
        accepted = self.execution.report(exit_code, output, AT)
        assert accepted is (self.status == "sent")
        if not accepted:
            self.expect([])
            return
        self.result = (exit_code, output)
        if self.cancel_requested and exit_code in (CANCELLED_EXIT_CODE, INTERRUPTED_EXIT_CODE):
            self.status = "cancelled"
            self.expect(["Cancelled"])
        else:
            self.status = "completed"
            self.expect(["Completed"])

    @rule()
    def cancel(self) -> None:
        try:
            result = self.execution.cancel(AT)
        except ExecutionTerminalError:
            assert not self.open
            self.expect([])
            return
        if self.status == "pending":
            assert result == "cancelled"
            self.status = "cancelled"
            self.expect(["Cancelled"])
        else:
            assert result == "cancellation request sent"
            self.expect([] if self.cancel_requested else ["CancelRequested"])
            self.cancel_requested = True

    @rule(reason=st.sampled_from(["expired_at passed", "node unreachable for more than 60s"]))
    def expire(self, reason: str) -> None:
        assert self.execution.expire(reason, AT) is self.open
        if self.open:
            self.status = "expired"
            self.expect(["Expired"])
        else:
            self.expect([])

    @rule()
    def abandon(self) -> None:
        assert self.execution.abandon("node deleted", AT) is self.open
        if self.open:
            self.status = "cancelled"
            self.expect(["Cancelled"])
        else:
            self.expect([])

    @rule()
    def prune(self) -> None:
        try:
            self.execution.prune(AT)
        except ExecutionNotTerminalError:
            assert self.open
            self.expect([])
            return
        assert not self.open
        self.expect([] if self.deleted else ["Pruned"])
        self.deleted = True

    @invariant()
    def matches_the_model(self) -> None:
        e = self.execution
        assert (e.status, e.cancel_requested, e.deleted) == (
            self.status, self.cancel_requested, self.deleted)
        assert (e.deliveries, e.is_open) == (self.deliveries, self.open)
        assert (e.exit_code, e.output) == self.result

    @invariant()
    def ends_exactly_once_and_events_agree_with_status(self) -> None:
        kinds = [type(e).__name__ for e in self.history]
        endings = [k for k in kinds if k in ENDINGS]
        assert len(endings) == (0 if self.open else 1)
        assert (self.status in TERMINAL) is (len(endings) == 1)
        deciding = [k for k in kinds if k in STATUS_OF]
        assert STATUS_OF[deciding[-1]] == self.status
        if "Pruned" in kinds:
            assert kinds.count("Pruned") == 1 and kinds[-1] == "Pruned"
        if "CancelRequested" in kinds:
            assert kinds.count("CancelRequested") == 1
            assert "Sent" in kinds[: kinds.index("CancelRequested")]

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        assert vars(replayed(self.history)) == vars(self.execution)
        stored: Any = self.store.repository.get(self.execution.id)
        assert vars(stored) == vars(self.execution)


TestExecutionMachine = ExecutionMachine.TestCase
TestExecutionMachine.settings = settings(deadline=None, max_examples=150, stateful_step_count=25)


def test_a_result_reported_after_expired_at_ends_the_execution_expired() -> None:
    execution = new_execution()
    execution.send(AT)
    assert execution.expired_at is not None
    assert execution.report(143, "Terminated", execution.expired_at) is False
    assert execution.status == "expired" and execution.exit_code is None
    assert names(execution)[-1] == "Expired"
    assert execution.report(0, "late", execution.expired_at) is False  # and stays expired
