"""Agent and scheduler side of executions: hand out work, take results, end what cannot finish.

Delivery protocol (see README "Commands"): each poll names the executions the agent holds in its
journal (`running`). A sent execution missing from that list never reached the agent (its
answer was lost), so it is handed out again; one the agent holds and the operator cancelled is
listed for cancellation. An agent that restarted mid-command reports it with exit code 137.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from application.agent_protocol import cap_output as cap_text
from application.errors import NotFoundError
from application.ports import ExecutionIndex, ExecutionRef
from application.write_path import UnitOfWork, WritePath
from domain.command_execution import (
    NODE_DELETED,
    OUTPUT_LIMIT,
    CommandExecution,
    ExecutionStatus,
)

# Stored output is capped to OUTPUT_LIMIT; the agent keeps head and tail and marks the cut
# (README), and this side cuts the same way (the marker is part of the wire contract).
# A sent execution absent from the agent's journal this long after sending is handed out again.
REDELIVER_AFTER = timedelta(seconds=2)
BATCH = 500
_Ender = Callable[[CommandExecution, datetime], bool]


@dataclass(frozen=True)
class Assignment:
    """One execution handed to an agent."""

    id: UUID
    command_id: UUID
    command_text: str
    timeout: int | None
    expired_at: datetime | None


@dataclass(frozen=True)
class Work:
    """What one poll gives an agent."""

    executions: list[Assignment]
    cancel: list[UUID]
    # Seconds until a sent execution missing from the agent's journal is handed out again
    # (REDELIVER_AFTER): a waiting poll looks again then. None: no such execution.
    redeliver_in: float | None = None


@dataclass(frozen=True)
class Reported:
    status: str
    accepted: bool


def cap_output(output: str, limit: int = OUTPUT_LIMIT) -> str:
    return cap_text(output, limit, "edge-admin")


def _reporting(node_id: UUID, exec_id: UUID, exit_code: int,
               output: str) -> Callable[[UnitOfWork], Reported]:
    """The decision of an agent's result: recorded once; a late one changes nothing."""
    capped = cap_output(output)  # before the decision: the writer thread decides many

    def decide(uow: UnitOfWork) -> Reported:
        execution = uow.find(CommandExecution, exec_id)
        if execution is None or execution.node_id != node_id:
            raise NotFoundError("command execution not found")
        accepted = execution.report(exit_code, capped, uow.now)
        return Reported(execution.status, accepted)

    return decide


class Executions:
    """Hands executions to agents, records their results, and ends those that cannot finish."""

    def __init__(self, writes: WritePath, index: ExecutionIndex) -> None:
        self.writes = writes
        self.index = index

    def next_work(self, node_id: UUID, running: Collection[UUID], limit: int = 50) -> Work:
        now = self.writes.clock.now()
        work, hand_out = self._planned(node_id, self.index.open_for_node(node_id, 1000), running,
                                       limit, now)
        if hand_out is None:
            return work
        return Work(self.writes.run(hand_out), work.cancel)

    async def next_work_async(self, node_id: UUID, running: Collection[UUID],
                              limit: int = 50) -> Work:
        """`next_work` on the event loop (the work poll's look where the view reads there)."""
        now = self.writes.clock.now()
        open_ = await self.index.open_for_node_async(node_id, 1000)
        work, hand_out = self._planned(node_id, open_, running, limit, now)
        if hand_out is None:
            return work
        return Work(await self.writes.run_async(hand_out), work.cancel)

    def _planned(self, node_id: UUID, open_: list[ExecutionRef], running: Collection[UUID],
                 limit: int, now: datetime,
                 ) -> tuple[Work, Callable[[UnitOfWork], list[Assignment]] | None]:
        """The work as read (no execution to hand out yet), and the decision that hands out
        the deliverable ones (None: there are none)."""
        held = set(running)
        wanted = [r.id for r in open_ if self._deliverable(r, held, now)][:limit]
        cancel = [r.id for r in open_ if r.cancel_requested and r.id in held]
        if not wanted:
            return Work([], cancel, self._redeliver_in(open_, held, now)), None

        def decide(uow: UnitOfWork) -> list[Assignment]:
            handed = []
            for exec_id in wanted:
                execution = uow.find(CommandExecution, exec_id)
                if execution is None or execution.node_id != node_id:
                    continue
                if execution.send(uow.now):
                    handed.append(Assignment(execution.id, execution.command_id,
                                             execution.command_text, execution.timeout,
                                             execution.expired_at))
            return handed

        return Work([], cancel), decide

    @staticmethod
    def _redeliver_in(open_: list[ExecutionRef], held: set[UUID], now: datetime
                      ) -> float | None:
        due = [r.sent_at + REDELIVER_AFTER for r in open_
               if r.status == ExecutionStatus.SENT.value and r.id not in held
               and r.sent_at is not None]
        return max(0.0, (min(due) - now).total_seconds()) if due else None

    @staticmethod
    def _deliverable(ref: ExecutionRef, held: set[UUID], now: datetime) -> bool:
        if ref.status == ExecutionStatus.PENDING.value:
            return True
        lost = ref.id not in held and (ref.sent_at is None or ref.sent_at <= now - REDELIVER_AFTER)
        return ref.status == ExecutionStatus.SENT.value and lost

    def report(self, node_id: UUID, exec_id: UUID, exit_code: int, output: str) -> Reported:
        return self.writes.run(_reporting(node_id, exec_id, exit_code, output))

    async def report_async(self, node_id: UUID, exec_id: UUID, exit_code: int,
                           output: str) -> Reported:
        """`report` on the event loop (the HTTP route's way: a fleet-wide command's results
        arrive together, and none holds a thread while its write waits for its batch)."""
        return await self.writes.run_async(_reporting(node_id, exec_id, exit_code, output))

    # --- scheduler ------------------------------------------------------------------------
    def expire_due(self) -> int:
        """Ends open executions whose command's expired_at passed (one batch)."""
        due = self.index.due(self.writes.clock.now(), BATCH)
        return self._end(due, lambda e, now: e.expire("expired_at passed", now))

    def abandon_orphans(self) -> int:
        """Ends open executions whose node was deleted (one batch)."""
        orphans = self.index.orphaned(BATCH)
        return self._end(orphans, lambda e, now: e.abandon(NODE_DELETED, now))

    def expire_unreachable(self, grace_seconds: float, listening_since: datetime | None) -> int:
        """Ends open executions of nodes unreachable for longer than the grace (one batch).
        Only while an admin was listening that long (`listening_since`, None: not yet): after
        an outage every node looks unreachable."""
        cutoff = self.writes.clock.now() - timedelta(seconds=grace_seconds)
        if listening_since is None or listening_since > cutoff:
            return 0
        stuck = self.index.on_unreachable_nodes(cutoff, BATCH)
        reason = f"node unreachable for more than {grace_seconds:g}s"
        return self._end(stuck, lambda e, now: e.expire(reason, now))

    def prune_finished(self, retention_days: float) -> int:
        """Deletes executions finished longer ago than the retention (one batch)."""
        cutoff = self.writes.clock.now() - timedelta(days=retention_days)
        old = self.index.finished_before(cutoff, BATCH)

        def prune(execution: CommandExecution, now: datetime) -> bool:
            if execution.deleted:
                return False
            execution.prune(now)
            return True

        return self._end(old, prune)

    def _end(self, ids: list[UUID], end: _Ender) -> int:
        if not ids:
            return 0

        def decide(uow: UnitOfWork) -> int:
            ended = 0
            for exec_id in ids:
                execution = uow.find(CommandExecution, exec_id)
                if execution is not None and end(execution, uow.now):
                    ended += 1
            return ended

        return self.writes.run(decide)
