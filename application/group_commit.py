"""Group commit: the decisions of concurrent callers share one transaction.

The store serialises inserts on one table lock held through the disk flush, so one transaction
per command caps a process at a few hundred writes per second. Here callers queue their
decisions; whoever finds no commit in progress leads: it decides every queued decision in order
against one shared state, saves everything they changed in one transaction, and hands each
caller its own answer. While that transaction flushes, the next callers queue up: the batch
grows with the load, and a lone caller waits for nobody.

Callers on the event loop (`submit_async`) hold no thread while they wait: their batches are
decided and saved on one writer thread, and each batch answers all of its async callers with one
wake-up of their loop. A thread per waiting request cost a thread switch or two per request for
the interpreter lock alone, a third of a command's CPU under load. A thread caller (`submit`)
still leads in its own thread when nobody leads, which keeps a lone caller's latency.

Each decision sees what the earlier ones in its batch decided, and works on copies, so one that
fails (a rule, a bug) leaves no trace and fails alone. If the transaction loses a version race
to another process, every decision of the batch is run again on its own, so only the ones that
really conflict are retried or refused.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording

from application.ports import NO_ROWS, CommittedRows, ReadModelWaiter, WorkNotifier
from application.store import EdgeStore


class Decided(NamedTuple):
    result: Any
    touched: dict[UUID, Aggregate]  # the aggregates it read or changed
    changed: bool  # whether it added events
    ring: tuple[UUID, ...] = ()  # nodes it gave work (UnitOfWork.ring)


# shared aggregates of the batch -> what the decision made of them
Decide = Callable[[dict[UUID, Aggregate]], Decided]


@dataclass(eq=False)
class Request:
    """One caller's decision and, once its batch is done, its answer."""

    decide: Decide
    # Aggregates the decision will likely read: the batch loads them all in one query.
    prefetch: tuple[UUID, ...] = ()
    result: Any = None
    error: BaseException | None = None
    changed: bool = False  # it saved events, so it has a position to wait for
    position: int | None = None
    done: bool = False
    retry_alone: bool = False  # the batch lost a race: decide again, alone
    saved: bool = False  # its batch committed (or had nothing to commit)
    ring: tuple[UUID, ...] = ()  # nodes its decision gave work
    told: bool = False  # its batch's commit carried its ring to the other processes
    rows: CommittedRows = NO_ROWS  # the read-model rows its batch's commit left
    # A thread caller's: set once, when its batch is done or it leads next (handed over).
    wake: threading.Event = field(default_factory=threading.Event)
    # An event-loop caller's: resolved on its loop once its batch is done.
    future: asyncio.Future[None] | None = None

    def answered(self) -> bool:
        return self.saved or self.retry_alone or self.error is not None


class GroupCommit:
    """Batches decisions from any number of threads into shared transactions."""

    def __init__(self, store: EdgeStore, waiter: ReadModelWaiter,
                 work: WorkNotifier | None = None, max_batch: int = 500) -> None:
        self.store = store
        self.waiter = waiter
        self.work = work
        self.max_batch = max_batch
        self._queue: deque[Request] = deque()
        self._mutex = threading.Lock()
        self._leading = False
        self._writer_pool: ThreadPoolExecutor | None = None
        self.batches = 0  # transactions committed (for benchmarks and tests)
        self.decisions = 0

    @property
    def queued(self) -> int:
        """Decisions waiting for a batch (for tests)."""
        with self._mutex:
            return len(self._queue)

    def submit(self, request: Request) -> Request:
        """Returns once the request's batch is durable (or it failed / must be retried).

        Each waiting caller sleeps on its own event and is woken once: when its batch is done,
        or when the leader hands it the lead. (One condition shared by every waiter woke them
        all at each batch's end, a herd of a thread pool's size per commit.)"""
        with self._mutex:
            self._queue.append(request)
            follow = self._leading
            self._leading = True
        if follow:
            request.wake.wait()
            if request.done:
                return request
        self._lead(request)  # nobody led, or the last leader handed over
        return request

    async def submit_async(self, request: Request) -> Request:
        """`submit` for a caller on an event loop: it waits without a thread of its own.

        Once queued the decision is carried out even if the caller is cancelled meanwhile (a
        client that hung up): what it wrote is durable, only the answer goes unheard."""
        request.future = asyncio.get_running_loop().create_future()
        with self._mutex:
            self._queue.append(request)
            lead = not self._leading
            self._leading = True
        if lead:
            self._writer().submit(self._lead, None)
        await asyncio.shield(request.future)
        return request

    def _writer(self) -> ThreadPoolExecutor:
        if self._writer_pool is None:
            with self._mutex:
                if self._writer_pool is None:
                    self._writer_pool = ThreadPoolExecutor(1, "group-commit")
        return self._writer_pool

    def close(self) -> None:
        """Waits for the writer thread's batches to finish and ends the thread (a later async
        write starts another)."""
        with self._mutex:
            pool, self._writer_pool = self._writer_pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _lead(self, own: Request | None) -> None:
        """Commits batches until `own` is done, or (the writer thread, `own` None) until the
        queue is empty; then hands the lead to the first in line, if any."""
        try:
            while own is None or not own.done:
                with self._mutex:
                    if not self._queue:  # only the writer thread gets here
                        break
                    batch = [self._queue.popleft()
                             for _ in range(min(self.max_batch, len(self._queue)))]
                try:
                    self._commit(batch)
                finally:
                    _answer(batch)
        finally:
            with self._mutex:
                first = self._queue[0] if self._queue else None
                if first is None:
                    self._leading = False
            if first is not None:  # the first in line leads next; the others stay asleep
                if first.future is None:
                    first.wake.set()
                else:
                    self._writer().submit(self._lead, None)

    def _commit(self, batch: list[Request]) -> None:
        shared: dict[UUID, Aggregate] = {}
        decided = []
        try:
            wanted = {i for request in batch for i in request.prefetch}
            if wanted:
                try:
                    shared.update(self.store.get_many(wanted))
                except Exception as exc:  # noqa: BLE001 - the database failed: all hear it
                    for request in batch:
                        request.error = exc
                    return
            for request in batch:
                try:
                    outcome = request.decide(shared)
                except Exception as exc:  # noqa: BLE001 - it belongs to that caller alone
                    request.error = exc
                    continue
                request.result, request.changed = outcome.result, outcome.changed
                request.ring = outcome.ring
                shared.update(outcome.touched)
                decided.append(request)
            self._save(shared, decided)
        finally:
            for request in batch:
                if not request.answered():  # the leader itself was interrupted
                    request.error = RuntimeError("the write was interrupted; retry the request")
                request.done = True

    def _save(self, shared: dict[UUID, Aggregate], decided: list[Request]) -> None:
        changed = [a for a in shared.values() if a.pending_events]
        if not changed:
            for request in decided:
                request.saved = True
            return
        self.waiter.saving()
        recordings: list[Recording[UUID]] | None = None
        notices = notices_for(self.store, self.work,
                              [n for request in decided for n in request.ring])
        try:
            recordings = self.store.save(*changed, notices=notices)
        except IntegrityError:
            for request in decided:
                request.retry_alone = True
            return
        except Exception as exc:  # noqa: BLE001 - the database failed: every caller hears it
            for request in decided:
                request.error = exc
            return
        finally:
            self.waiter.saved([(r.domain_event, r.notification.id) for r in recordings or ()])
        position = max(r.notification.id for r in recordings)
        rows = self.store.committed_rows(position)
        self.batches += 1
        self.decisions += len(decided)
        for request in decided:
            request.saved = True
            request.told = bool(notices)
            request.rows = rows
            if request.changed:
                request.position = position


def notices_for(store: EdgeStore, work: WorkNotifier | None,
                ring: Sequence[UUID]) -> list[str]:
    """The notices a save carries for the nodes its decisions gave work: only where the store
    applies the read model in the same commit, so that a poll the notice wakes in another
    process finds the work there (elsewhere the write path rings once it reads it back)."""
    if not ring or work is None or not store.notifies_in_commit():
        return []
    return work.notices(ring)


def _answer(batch: list[Request]) -> None:
    """Wakes the batch's thread callers, and its loop callers with one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for request in batch:
        if request.future is None:
            request.wake.set()
        else:
            by_loop.setdefault(request.future.get_loop(), []).append(request.future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, futures)
        except RuntimeError:  # that loop is closed: nobody is left to hear the answers
            pass


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def isolated(shared: dict[UUID, Aggregate], aggregate_id: UUID) -> Aggregate | None:
    """A decision's own copy of what earlier decisions in its batch left (None: not there).

    Pending events are immutable, so the copy shares them: copying them too made a batch of
    n commands on one hot aggregate (a cluster admitting nodes) cost n^2 event copies."""
    found = shared.get(aggregate_id)
    if found is None:
        return None
    return copy.deepcopy(found, {id(e): e for e in found.pending_events})
