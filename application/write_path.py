"""The single write path: decide against current state, save atomically, wait for reads."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from msgspec import UNSET

from application.errors import ConflictError, NotFoundError, ReadModelLagError
from application.group_commit import Decided, GroupCommit, Request, isolated, notices_for
from application.ports import NO_ROWS, Clock, CommittedRows, ReadModelWaiter, WorkNotifier
from application.store import EdgeStore, project
from domain.shared import GoneError

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)


class UnitOfWork:
    """Aggregates loaded or created by one command; everything touched is saved together."""

    def __init__(
        self, store: EdgeStore, now: datetime, shared: dict[UUID, Aggregate] | None = None
    ) -> None:
        self._store = store
        self.now = now
        self._seen: dict[UUID, Aggregate] = {}
        # In a group commit: what the batch's earlier decisions left, read through copies.
        self._shared = shared or {}
        self._pending_before: dict[UUID, int] = {}
        self._rung: dict[UUID, None] = {}

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self._seen:
            copied = isolated(self._shared, aggregate_id)
            if copied is not None:
                self._seen[aggregate_id] = copied
                self._pending_before[aggregate_id] = len(copied.pending_events)
                return copied if isinstance(copied, cls) else None
            try:
                self._seen[aggregate_id] = self._store.repository.get(
                    aggregate_id, projector_func=project)
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

    def touched(self) -> dict[UUID, Aggregate]:
        return dict(self._seen)

    def ring(self, node_ids: Iterable[UUID | None]) -> None:
        """These nodes have new work once this decision commits: their agents' long polls are
        woken then, in every admin process (nothing rings for a decision that fails)."""
        self._rung.update(dict.fromkeys(n for n in node_ids if n is not None))

    def rung(self) -> tuple[UUID, ...]:
        return tuple(self._rung)

    def made_changes(self) -> bool:
        """Whether this decision added events (copies may carry earlier decisions' events)."""
        return any(len(a.pending_events) > self._pending_before.get(i, 0)
                   for i, a in self._seen.items())


Decision = Callable[[UnitOfWork], T]


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a command returned and the log position of its last event (None: no change)."""

    result: T
    position: int | None
    ring: tuple[UUID, ...] = ()  # nodes with new work (UnitOfWork.ring)
    told: bool = False  # the commit carried the ring to the other processes
    rows: CommittedRows = NO_ROWS  # the read-model rows its commit left


# The rows the last write of this context (one HTTP request: its task, or the worker thread it
# writes in) left: the request answers from them instead of reading its object back
# (entrypoints.http.crud). Every write sets it, so it never speaks of an earlier write.
_last_write_rows: ContextVar[CommittedRows] = ContextVar("last_write_rows", default=NO_ROWS)


def rows_of_last_write() -> CommittedRows:
    """The read-model rows the last write made in this context left at its commit."""
    return _last_write_rows.get()


class WritePath:
    """Runs every command; retries a decision when a concurrent writer won the version race."""

    def __init__(  # noqa: PLR0913
        self,
        store: EdgeStore,
        clock: Clock,
        waiter: ReadModelWaiter,
        max_attempts: int = 30,
        observers: list[Callable[[int], None]] | None = None,
        group_commit: bool = True,
        work: WorkNotifier | None = None,
    ) -> None:
        self.store = store
        # Told the position of every commit (the relay wakes on it instead of polling).
        self.observers = observers or []
        self.clock = clock
        self.waiter = waiter
        self.work = work
        self.max_attempts = max_attempts
        # The store serialises inserts on a table lock anyway; deciding one command at a time in
        # this process means in-process writers never conflict (other processes still can).
        self._lock = threading.Lock()
        # Concurrent commands share transactions; None: one transaction per command (the naive
        # path, kept for comparison benchmarks).
        self.group = GroupCommit(store, waiter, work) if group_commit else None

    def execute(self, decide: Decision[T], *, wait: bool = True,
                prefetch: tuple[UUID, ...] = ()) -> Written[T]:
        """prefetch: aggregates the decision will likely read, loaded with its batch's."""
        self.waiter.check()
        written = self._decide_and_save(decide, prefetch)
        _last_write_rows.set(written.rows)
        if written.position is not None:
            self.waiter.notify_written(written.position)
            for observer in self.observers:
                observer(written.position)
            if wait:
                began = time.monotonic()
                try:
                    self.waiter.wait(written.position)
                except TimeoutError:
                    raise ReadModelLagError(written.position,
                                            time.monotonic() - began) from None
        self._ring(written)
        return written

    async def execute_async(self, decide: Decision[T], *,
                            prefetch: tuple[UUID, ...] = ()) -> Written[T]:
        """`execute` for a caller on the event loop: the decision runs on the group commit's
        writer thread and no thread waits for it. Same answer, same guarantees."""
        if self.group is None:  # the naive path decides in the caller's thread
            return await asyncio.to_thread(self.execute, decide, prefetch=prefetch)
        await self.waiter.check_async()
        request = await self.group.submit_async(
            Request(partial(self._decide_shared, decide), prefetch))
        if request.error is not None:
            raise request.error
        if request.retry_alone:  # the batch lost a version race to another process
            written = await asyncio.to_thread(self._alone, decide, self.max_attempts - 1)
        else:
            written = Written(request.result, request.position, request.ring, request.told,
                              request.rows)
        _last_write_rows.set(written.rows)
        if written.position is not None:
            self.waiter.notify_written(written.position)
            for observer in self.observers:
                observer(written.position)
            began = time.monotonic()
            try:
                await self.waiter.wait_async(written.position)
            except TimeoutError:
                raise ReadModelLagError(written.position, time.monotonic() - began) from None
        self._ring(written)
        return written

    async def run_async(self, decide: Decision[T], prefetch: tuple[UUID, ...] = ()) -> T:
        return (await self.execute_async(decide, prefetch=prefetch)).result

    def _decide_and_save(self, decide: Decision[T], prefetch: tuple[UUID, ...]) -> Written[T]:
        if self.group is None:
            return self._alone(decide, self.max_attempts)
        request = self.group.submit(Request(partial(self._decide_shared, decide), prefetch))
        if request.error is not None:
            raise request.error
        if request.retry_alone:  # the batch lost a version race to another process
            return self._alone(decide, self.max_attempts - 1)
        return Written(request.result, request.position, request.ring, request.told,
                       request.rows)

    def _ring(self, written: Written[Any]) -> None:
        """Wakes the polls of the nodes the decision gave work, once its answer is readable
        (a poll woken sooner would look before the read model has it): here, and elsewhere
        unless the commit already told the other processes."""
        if written.ring and self.work is not None:
            if written.told:
                self.work.ring_here(written.ring)
            else:
                self.work.ring(written.ring)

    def _decide_shared(self, decide: Decision[T], shared: dict[UUID, Aggregate]) -> Decided:
        uow = UnitOfWork(self.store, self.clock.now(), shared)
        try:
            result = decide(uow)
        except GoneError as exc:
            raise NotFoundError(exc.message, exc.field) from None
        return Decided(result, uow.touched(), uow.made_changes(), uow.rung())

    def _alone(self, decide: Decision[T], attempts: int) -> Written[T]:
        """One decision, one transaction; decided again on fresh state after a lost race."""
        for attempt in range(attempts):
            with self._lock:
                uow = UnitOfWork(self.store, self.clock.now())
                try:
                    result = decide(uow)
                except GoneError as exc:
                    raise NotFoundError(exc.message, exc.field) from None
                changed, ring = uow.changed(), uow.rung()
                if not changed:
                    return Written(result, None, ring)
                self.waiter.saving()
                recordings = None
                notices = notices_for(self.store, self.work, ring)
                try:
                    recordings = self.store.save(*changed, notices=notices)
                except IntegrityError:
                    pass
                finally:
                    self.waiter.saved([(r.domain_event, r.notification.id)
                                       for r in recordings or ()])
            if recordings is not None:
                position = max(r.notification.id for r in recordings)
                return Written(result, position, ring, bool(notices),
                               self.store.committed_rows(position))
            # Another process saved one of these aggregates first: decide again on fresh state.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter only
        raise ConflictError("too many concurrent changes to the same objects; retry the request")

    def close(self) -> None:
        if self.group is not None:
            self.group.close()

    def run(self, decide: Decision[T], prefetch: tuple[UUID, ...] = ()) -> T:
        return self.execute(decide, prefetch=prefetch).result

    def change(self, load: Callable[[UnitOfWork, UUID], A], aggregate_id: UUID,
               act: Callable[[A, datetime], object]) -> UUID:
        """The plainest command: load one aggregate (`load` raises what its absence means), call
        one of its methods at the decision's time, and answer the aggregate's id."""
        def decide(uow: UnitOfWork) -> UUID:
            act(load(uow, aggregate_id), uow.now)
            return aggregate_id

        return self.run(decide)


def sent_fields(struct: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields of an input struct that the client actually sent (omitted ones are UNSET)."""
    return {n: getattr(struct, n) for n in names if getattr(struct, n) is not UNSET}
