"""One command on one node: pending -> sent -> completed | cancelled | expired, then pruned.

Every execution ends in exactly one terminal state and stays there: a result that arrives after
a cancel or an expiry is acknowledged to the agent but changes nothing (the seed leaves it open).
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import InvalidValueError, StateConflictError, declared_by_fields

# 128 + SIGTERM: how a shell reports that it honoured a cancellation.
CANCELLED_EXIT_CODE = 143
# 128 + SIGKILL: what the agent reports for a command its own stop or death cut short (it
# reports a cancel it carried out as 143, however the command then died). After a cancel
# request the command did not finish either way, so it ends cancelled, not completed.
INTERRUPTED_EXIT_CODE = 137
# The reason an execution ends with when its node is deleted (the read model then forgets the
# node id, as the seed keeps such executions "with node_id set to NULL").
NODE_DELETED = "node deleted"
# The longest output an execution keeps. The application service cuts longer output to it with
# the wire contract's marker (application/agent_protocol.py cap_output) before reporting.
OUTPUT_LIMIT = 65_536


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN = (ExecutionStatus.PENDING.value, ExecutionStatus.SENT.value)
TERMINAL = (ExecutionStatus.COMPLETED.value, ExecutionStatus.CANCELLED.value,
            ExecutionStatus.EXPIRED.value)
# What a cancel did: ended a pending execution, or asked the agent to stop a sent one.
CancelOutcome = Literal["cancelled", "cancellation request sent"]


class ExecutionNotTerminalError(StateConflictError):
    """Only finished executions may be deleted."""


class ExecutionTerminalError(StateConflictError):
    """A finished execution cannot be cancelled."""


@declared_by_fields
class CommandExecution(Aggregate):
    """The per-node lifecycle of a command; every event names its command, node and cluster."""

    id: UUID
    command_id: UUID
    node_id: UUID
    cluster_name: str | None  # the one cluster the command targeted (seed), else None
    target_all: bool
    command_text: str
    timeout: int | None
    expired_at: datetime | None
    # Where the node was at creation; the read model follows its moves.
    node_cluster_name: str
    at: datetime
    status: str = field(default=ExecutionStatus.PENDING.value, init=False)
    cancel_requested: bool = field(default=False, init=False)
    deliveries: int = field(default=0, init=False)
    exit_code: int | None = field(default=None, init=False)
    output: str | None = field(default=None, init=False)
    deleted: bool = field(default=False, init=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def ended(self) -> bool:
        """Finished: only a late result or the prune is left to it."""
        return self.status in TERMINAL

    def _refs(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "node_id": self.node_id,
                "cluster_name": self.cluster_name}

    # --- delivery to the agent ------------------------------------------------------------
    def send(self, now: datetime) -> bool:
        """Hands the execution to its agent; a cancel-requested one that never arrived ends."""
        if self.status == ExecutionStatus.PENDING.value:
            self._sent(**self._refs(), at=now)
            return True
        if self.status != ExecutionStatus.SENT.value:
            return False
        if self.cancel_requested:
            # The agent's journal does not hold it, so it never ran: the cancel is honoured.
            self._cancelled(**self._refs(), reason="cancelled before the agent received it",
                            exit_code=None, output=None, at=now)
            return False
        self._redelivered(**self._refs(), at=now)
        return True

    @event("Sent")
    def _sent(self, command_id: UUID, node_id: UUID, cluster_name: str | None,
              at: datetime) -> None:
        self.status = ExecutionStatus.SENT.value
        self.deliveries += 1

    @event("Redelivered")
    def _redelivered(self, command_id: UUID, node_id: UUID, cluster_name: str | None,
                     at: datetime) -> None:
        self.deliveries += 1

    def report(self, exit_code: int, output: str, now: datetime) -> bool:
        """The agent's result; False when the execution had already ended (late result)."""
        if len(output) > OUTPUT_LIMIT:
            raise InvalidValueError(f"is longer than {OUTPUT_LIMIT} characters", "output")
        if self.status != ExecutionStatus.SENT.value:
            return False
        if self.expired_at is not None and now >= self.expired_at:
            # Too late: the agent stops commands at expired_at, so this is (at best) that stop.
            self._expired(**self._refs(), reason="expired_at passed", at=now)
            return False
        if self.cancel_requested and exit_code == CANCELLED_EXIT_CODE:
            self._cancelled(**self._refs(), reason="the agent honoured the cancellation",
                            exit_code=exit_code, output=output, at=now)
        elif self.cancel_requested and exit_code == INTERRUPTED_EXIT_CODE:
            self._cancelled(**self._refs(), reason="interrupted before the agent could honour"
                            " the cancellation", exit_code=exit_code, output=output, at=now)
        else:
            self._completed(**self._refs(), exit_code=exit_code, output=output, at=now)
        return True

    @event("Completed")
    def _completed(  # noqa: PLR0913
        self, command_id: UUID, node_id: UUID, cluster_name: str | None, exit_code: int,
        output: str, at: datetime,
    ) -> None:
        self.status = ExecutionStatus.COMPLETED.value
        self.exit_code, self.output = exit_code, output

    # --- cancel, expiry, abandonment ------------------------------------------------------
    def cancel(self, now: datetime) -> CancelOutcome:
        """Pending: cancelled at once. Sent: the agent is asked and stays the source of truth."""
        if self.status == ExecutionStatus.PENDING.value:
            self._cancelled(**self._refs(), reason="cancelled before it was sent",
                            exit_code=None, output=None, at=now)
            return "cancelled"
        if self.status == ExecutionStatus.SENT.value:
            if not self.cancel_requested:
                self._cancel_requested(**self._refs(), at=now)
            return "cancellation request sent"
        raise ExecutionTerminalError(f"command execution is already {self.status}")

    @event("CancelRequested")
    def _cancel_requested(self, command_id: UUID, node_id: UUID, cluster_name: str | None,
                          at: datetime) -> None:
        self.cancel_requested = True

    @event("Cancelled")
    def _cancelled(  # noqa: PLR0913
        self, command_id: UUID, node_id: UUID, cluster_name: str | None, reason: str,
        exit_code: int | None, output: str | None, at: datetime,
    ) -> None:
        self.status = ExecutionStatus.CANCELLED.value
        self.exit_code, self.output = exit_code, output

    def expire(self, reason: str, now: datetime) -> bool:
        if not self.is_open:
            return False
        self._expired(**self._refs(), reason=reason, at=now)
        return True

    @event("Expired")
    def _expired(self, command_id: UUID, node_id: UUID, cluster_name: str | None, reason: str,
                 at: datetime) -> None:
        self.status = ExecutionStatus.EXPIRED.value

    def abandon(self, reason: str, now: datetime) -> bool:
        """Its node is gone: nothing can run or report it any more."""
        if not self.is_open:
            return False
        self._cancelled(**self._refs(), reason=reason, exit_code=None, output=None, at=now)
        return True

    # --- deletion -------------------------------------------------------------------------
    def prune(self, now: datetime) -> None:
        if self.is_open:
            raise ExecutionNotTerminalError(
                f"command execution is {self.status}; only finished executions can be deleted"
            )
        if not self.deleted:
            self._pruned(**self._refs(), at=now)

    @event("Pruned")
    def _pruned(self, command_id: UUID, node_id: UUID, cluster_name: str | None,
                at: datetime) -> None:
        self.deleted = True
