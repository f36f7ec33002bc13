"""In-memory delivery queue (the popo store's companion; lost with the process)."""

from __future__ import annotations

import dataclasses
import heapq
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.deliveries import (
    PENDING,
    SUCCEEDED,
    Attempt,
    Claim,
    DeliveryRecord,
    Settlement,
)
from application.ports import Backlog, Clock, NewDelivery


@dataclass
class _Row:
    delivery: NewDelivery
    created_at: datetime
    status: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    updated_at: datetime | None = None
    delivered_at: datetime | None = None
    log: list[Attempt] = field(default_factory=list)


class MemoryDeliveryQueue:
    """Deliveries keyed by id; enqueueing an id twice keeps the first. Same contract as the SQL
    queue (claim leases due rows, settle is fenced by the lease) so tests cover both."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._rows: dict[UUID, _Row] = {}

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    @property
    def rows(self) -> dict[UUID, NewDelivery]:
        with self._lock:
            return {key: row.delivery for key, row in self._rows.items()}

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        now, added = self._now(), 0
        with self._lock:
            for delivery in deliveries:
                if delivery.id not in self._rows:
                    self._rows[delivery.id] = _Row(delivery, now, next_attempt_at=now,
                                                   updated_at=now)
                    added += 1
        return added

    def claim(self, now: datetime, limit: int, lease_seconds: float, *,
              exclude: Collection[UUID] = (), only: UUID | None = None) -> list[Claim]:
        lease = now + timedelta(seconds=lease_seconds)
        with self._lock:
            due = sorted(
                (r for r in self._rows.values()
                 if r.status == PENDING and r.next_attempt_at is not None
                 and r.next_attempt_at <= now and (r.lease_until is None or r.lease_until < now)
                 and r.delivery.webhook_id not in exclude
                 and (only is None or r.delivery.webhook_id == only)),
                key=lambda r: (r.next_attempt_at or now, r.delivery.position),
            )[:limit]
            claims = []
            for row in due:
                row.lease_until = lease
                d = row.delivery
                claims.append(Claim(d.id, d.webhook_id, d.message_id, d.event_type, d.position,
                                    d.body, row.attempts, lease))
            return claims

    def settle(self, claim: Claim, settlement: Settlement) -> bool:
        with self._lock:
            row = self._rows.get(claim.id)
            if row is None or row.status != PENDING or row.lease_until != claim.lease:
                return False
            row.status, row.updated_at = settlement.status, settlement.at
            row.next_attempt_at, row.lease_until = settlement.next_attempt_at, None
            row.last_error = settlement.error
            if settlement.attempt is not None:
                row.attempts += 1
                row.log.append(dataclasses.replace(settlement.attempt, attempt=row.attempts))
                row.last_status_code = settlement.attempt.status_code
            if settlement.status == SUCCEEDED:
                row.delivered_at = settlement.at
            return True

    # --- retention ------------------------------------------------------------------------
    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` deliveries finished before `cutoff`, oldest first, with
        their attempts (kept in the row)."""
        with self._lock:
            old = heapq.nsmallest(limit, (r for r in self._rows.values() if r.status != PENDING
                                          and r.updated_at is not None and r.updated_at < cutoff),
                                  key=lambda r: r.updated_at or cutoff)
            for row in old:
                del self._rows[row.delivery.id]
            return len(old)

    # --- queries --------------------------------------------------------------------------
    def page(
        self, webhook_id: UUID, *, status: str | None = None, event_type: str | None = None,
        page: int = 1, page_size: int = 20,
    ) -> tuple[list[DeliveryRecord], int]:
        """A webhook's deliveries, newest first, with their attempts; and how many match."""
        with self._lock:
            rows = [r for r in self._rows.values() if r.delivery.webhook_id == webhook_id
                    and status in (None, r.status) and event_type in (None, r.delivery.event_type)]
            rows.sort(key=lambda r: (r.created_at, r.delivery.position, r.delivery.id.bytes),
                      reverse=True)
            start = (page - 1) * page_size
            return [_record(r) for r in rows[start:start + page_size]], len(rows)

    def get(self, delivery_id: UUID) -> DeliveryRecord | None:
        with self._lock:
            row = self._rows.get(delivery_id)
            return _record(row) if row is not None else None

    def counts(self, webhook_id: UUID | None = None) -> dict[str, int]:
        """Deliveries per status (for one webhook, or all)."""
        totals = {"pending": 0, "succeeded": 0, "failed": 0}
        with self._lock:
            for row in self._rows.values():
                if webhook_id is None or row.delivery.webhook_id == webhook_id:
                    totals[row.status] += 1
        return totals

    def backlog(self) -> Backlog:
        """Pending deliveries and the oldest one's enqueue time."""
        with self._lock:
            since = [r.created_at for r in self._rows.values() if r.status == PENDING]
        return Backlog(len(since), min(since, default=None))

    def close(self) -> None:
        return None


def _record(row: _Row) -> DeliveryRecord:
    d = row.delivery
    return DeliveryRecord(
        id=d.id, webhook_id=d.webhook_id, message_id=d.message_id, event_type=d.event_type,
        position=d.position, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        last_status_code=row.last_status_code, last_error=row.last_error,
        created_at=row.created_at, updated_at=row.updated_at or row.created_at,
        delivered_at=row.delivered_at, attempt_log=tuple(row.log),
    )
