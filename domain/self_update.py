"""Self-update requests: pending -> processing -> completed, with a {total, triggered, failed}
summary. Processing is resumable: the request remembers every node it has already handled."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import StateConflictError, declared_by_fields


class RequestStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"


class RequestNotCompletedError(StateConflictError):
    """Only completed requests may be deleted."""


@declared_by_fields
class SelfUpdateRequest(Aggregate):
    """Which nodes were asked to update themselves, and which could not be."""

    id: UUID
    targeting: dict[str, Any]
    at: datetime
    status: str = field(default=RequestStatus.PENDING.value, init=False)
    node_ids: list[UUID] = field(default_factory=list, init=False)
    # A dict, not a set: aggregate state must stay JSON-transcodable for snapshots.
    handled: dict[str, bool] = field(default_factory=dict, init=False)
    triggered: int = field(default=0, init=False)
    failed: int = field(default=0, init=False)
    deleted: bool = field(default=False, init=False)

    def start(self, node_ids: list[UUID], now: datetime) -> None:
        """Targets are resolved once, when processing starts."""
        if self.status == RequestStatus.PENDING.value:
            self._started(node_ids=list(dict.fromkeys(node_ids)), at=now)

    @event("Started")
    def _started(self, node_ids: list[UUID], at: datetime) -> None:
        self.status = RequestStatus.PROCESSING.value
        self.node_ids = list(node_ids)

    def remaining(self) -> list[UUID]:
        return [n for n in self.node_ids if str(n) not in self.handled]

    def record(self, triggered: list[UUID], failed: list[UUID], now: datetime) -> None:
        """Counts each target once, by its first outcome, so triggered + failed == total."""
        unhandled = {str(n) for n in self.remaining()}
        fresh_t = [n for n in dict.fromkeys(triggered) if str(n) in unhandled]
        unhandled.difference_update(str(n) for n in fresh_t)
        fresh_f = [n for n in dict.fromkeys(failed) if str(n) in unhandled]
        if fresh_t or fresh_f:
            self._progressed(triggered=fresh_t, failed=fresh_f, at=now)
        if self.status == RequestStatus.PROCESSING.value and not self.remaining():
            self._completed(total=len(self.node_ids), triggered=self.triggered,
                            failed=self.failed, at=now)

    @event("Progressed")
    def _progressed(self, triggered: list[UUID], failed: list[UUID], at: datetime) -> None:
        self.handled.update((str(n), True) for n in (*triggered, *failed))
        self.triggered += len(triggered)
        self.failed += len(failed)

    @event("Completed")
    def _completed(self, total: int, triggered: int, failed: int, at: datetime) -> None:
        self.status = RequestStatus.COMPLETED.value

    def delete(self, now: datetime) -> None:
        if self.status != RequestStatus.COMPLETED.value:
            raise RequestNotCompletedError(
                f"self-update request is {self.status}; only completed requests can be deleted"
            )
        self._deleted(at=now)

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
