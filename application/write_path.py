"""The single write path: decide against current state, save atomically, wait for reads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from msgspec import UNSET

from application.errors import ConflictError, NotFoundError
from application.ports import Clock, ReadModelWaiter
from application.store import EdgeStore
from domain.shared import GoneError

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    """Aggregates loaded or created by one command; everything touched is saved together."""

    def __init__(self, store: EdgeStore, now: datetime) -> None:
        self._store = store
        self.now = now
        self._seen: dict[UUID, Aggregate] = {}

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self._seen:
            try:
                self._seen[aggregate_id] = self._store.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
        found = self._seen[aggregate_id]
        return found if isinstance(found, cls) else None

    def get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        found = self.find(cls, aggregate_id)
        if found is None or getattr(found, "deleted", False):
            raise NotFoundError(f"{what} not found")
        return found

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self._seen[aggregate.id] = aggregate

    def changed(self) -> list[Aggregate]:
        return [a for a in self._seen.values() if a.pending_events]


Decision = Callable[[UnitOfWork], T]


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command returned and the log position of its last event (None: no change)."""

    result: T
    position: int | None


class WritePath:
    """Runs every command; retries a decision when a concurrent writer won the version race."""

    def __init__(
        self,
        store: EdgeStore,
        clock: Clock,
        waiter: ReadModelWaiter,
        max_attempts: int = 30,
        observers: list[Callable[[int], None]] | None = None,
    ) -> None:
        self.store = store
        # Told the position of every commit (the relay wakes on it instead of polling).
        self.observers = observers or []
        self.clock = clock
        self.waiter = waiter
        self.max_attempts = max_attempts
        # The store serialises inserts on a table lock anyway; deciding one command at a time in
        # this process means in-process writers never conflict (other processes still can).
        self._lock = threading.Lock()

    def execute(self, decide: Decision[T], *, wait: bool = True) -> Written[T]:
        written = self._decide_and_save(decide)
        if written.position is not None:
            self.waiter.notify_written(written.position)
            for observer in self.observers:
                observer(written.position)
            if wait:
                self.waiter.wait(written.position)
        return written

    def _decide_and_save(self, decide: Decision[T]) -> Written[T]:
        for attempt in range(self.max_attempts):
            with self._lock:
                uow = UnitOfWork(self.store, self.clock.now())
                try:
                    result = decide(uow)
                except GoneError as exc:
                    raise NotFoundError(exc.message, exc.field) from None
                changed = uow.changed()
                if not changed:
                    return Written(result, None)
                try:
                    recordings = self.store.save(*changed)
                except IntegrityError:
                    recordings = None
            if recordings is not None:
                return Written(result, max(r.notification.id for r in recordings))
            # Another process saved one of these aggregates first: decide again on fresh state.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter only
        raise ConflictError("too many concurrent changes to the same objects; retry the request")

    def run(self, decide: Decision[T]) -> T:
        return self.execute(decide).result


def sent_fields(struct: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of an input struct that the client actually sent (omitted ones are UNSET)."""
    return {n: getattr(struct, n) for n in names if getattr(struct, n) is not UNSET}
