"""Tails the event store's notification log and feeds a projection in batches.

eventsourcing's ProjectionRunner hands events over one at a time and needs a recorder that
supports subscriptions (SQLite has none); this runner pulls pages of notifications, applies each
page in one view transaction and wakes on in-process writes or a short poll.

An event the projection cannot apply must not take the service down with it, nor be skipped (the
read model would silently disagree with the log). The runner applies everything before it, stops
there and says so in one place: `failure` (readiness, metrics, `edge-admin projections status`,
and the status row other processes read), one log line with the traceback, then one line a
minute. Writers are refused at once instead of each waiting for a position that will not come.
It keeps retrying, so a transient fault clears by itself; a fixed release resumes from the
stuck event on restart, because the tracking position never moved past it. The database's own
trouble (is_store_trouble: away, restarting, a statement broken off) is not an event's fault: the
runner waits for it and says so (`store_away`), without refusing writes in the event's name.

On PostgreSQL a writer's own transaction may already have applied its events and moved the
tracking position (adapters.pg_commit_projection): the writer tells this worker
(`applied_in_commit`), and a page read from the log skips what the tracking row already
holds, whichever process's writer applied it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking

from projections.model import Delete, Upsert
from projections.status import (
    FAILURES,
    ProjectionFailure,
    ProjectionStuckError,
    ReadModelBehindError,
    describe_error,
    is_store_trouble,
    store_trouble_reason,
)
from projections.view import TableView

log = logging.getLogger(__name__)


class BatchProjection(Protocol):
    name: str

    @property
    def view(self) -> TableView: ...

    def process_batch(self, batch: list[tuple[Any, Tracking]], bulk: bool = False) -> None: ...


OFFER_WAIT = 0.5  # at most this long for a save in flight here, before reading from the store
RETRY_CAP = 5.0  # seconds between attempts at an event that failed, at most
# ... and at the database while it is away: a try costs nothing then (refused at once, or the
# one waiting to find out: adapters/outage.py), and readiness clears only once one succeeds.
STORE_RETRY_CAP = 1.0
REMIND_EVERY = 60.0  # seconds between the one-line reminders that the projection is stuck
FAILURE_READ_EVERY = 0.5  # how often a following process reads the projecting one's failure
# Events a page holds while the read model catches up with the log at start (as a replay's,
# entrypoints.replay.REPLAY_PAGE: see `_catch_up_pages`).
CATCH_UP_PAGE = 10_000
# Events between collections of cyclic garbage while pages are that large (rare_collections).
COLLECT_EVERY = 200_000


class EventFailedError(Exception):
    """One event of a page could not be applied; everything before it was."""

    def __init__(self, event: Any, notification_id: int, cause: BaseException) -> None:
        super().__init__(f"event {notification_id} failed: {cause!r}")
        self.event = event
        self.notification_id = notification_id
        self.cause = cause


class ProjectionWorker:
    """Keeps one projection caught up; also the read-your-writes waiter for this process."""

    def __init__(  # noqa: PLR0913
        self,
        projection: BatchProjection,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        application_name: str,
        *,
        page_size: int = 500,
        poll_interval: float = 0.2,
        wait_timeout: float = 10.0,
        leader: Callable[[], bool] | None = None,
    ) -> None:
        self.projection = projection
        self.recorder = recorder
        self.mapper = mapper
        self.application_name = application_name
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.position = projection.view.max_tracking_id(application_name) or 0
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0
        # Several processes may run a worker on one database; only the leader applies events,
        # the others follow the tracking position so their writers can still wait on it.
        self.leader = leader or (lambda: True)
        self._wanted = 0
        # While one page is applied the next is read and decoded (database waits overlap).
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future[list[tuple[Any, Tracking]]]] | None = None
        # Events this process just saved, with their notification ids: applied as they are
        # when they follow on from the position (no read back, no decoding).
        self._offered: list[tuple[Any, int]] | None = None
        self._offers = threading.Condition()
        self._saving = 0
        self.handed_over = 0  # batches applied from a writer's hand, not read back
        self.in_commit = 0  # of which applied in the writer's own transaction
        self.log_reads = 0  # pages asked of the store (a wake-up for nothing costs one)
        # Why the projection cannot go on (None: it can); shared with other processes through
        # the view's status table.
        self.failure: ProjectionFailure | None = None
        # The log's head at start when the read model held less (a rebuild after an upgrade, a
        # start killed mid-rebuild): writes are refused until it holds that much (`check`).
        self.catching_up_to = 0
        self.failed_attempts = 0  # every attempt that raised, since start (a metric)
        self.store_away: str | None = None  # why the database does not answer, while it does not
        self.store_short_of: str | None = None  # what it is short of, when it says (disk full)
        self._reminded = 0.0
        self._failure_read = 0.0
        self._published = False
        self._bulk = False  # a replay: large pages, applied as few statements as possible
        self._live_page = page_size
        self._collections: AbstractContextManager[None] | None = None  # while catching up
        self._collected = 0  # `processed` at the last collection
        # Told each time the position moves (open streams of the read model wake on it); called
        # on whichever thread moved it, outside the lock.
        self.moved: list[Callable[[], None]] = []

    # --- ReadModelWaiter port -------------------------------------------------------------
    def notify_written(self, position: int) -> None:
        if position > self.position:  # else its own transaction applied it already
            self._wake.set()

    def saving(self) -> None:
        with self._offers:
            self._saving += 1

    def saved(self, events: Sequence[tuple[Any, int]]) -> None:
        with self._offers:
            self._saving = max(0, self._saving - 1)
            # Not when the writer's transaction applied them already (applied_in_commit): then
            # there is nothing to wake the loop for (it would read the log and find nothing).
            owed = (bool(events) and self._thread is not None
                    and max(p for _, p in events) > self.position)
            if owed:
                self._offered = sorted(events, key=lambda pair: pair[1])
            self._offers.notify_all()
        if owed:
            self._wake.set()

    def applied_in_commit(self, position: int, count: int) -> None:
        """A writer's transaction applied its events to the read model and tracked `position`;
        it did so only with every earlier event applied, so the read model holds all up to it."""
        with self._changed:
            self.processed += count
            self.handed_over += 1
            self.in_commit += 1
            moved = position > self.position
            if moved:
                self.position = position
            self._changed.notify_all()
        if moved:
            self._tell()

    def wake(self) -> None:
        """Something was committed somewhere: look for new notifications now."""
        self._wake.set()

    def check(self) -> None:
        """Raises ProjectionStuckError when the read model cannot follow the log: a write now
        would be recorded but never answered, so it is refused before it is decided; and
        ReadModelBehindError while it catches up at start (a write would decide on part of
        the log)."""
        failure = self.current_failure()
        if failure is not None:
            raise ProjectionStuckError(failure)
        if self.catching_up_to:
            held = self.applied()
            if held < self.catching_up_to:
                raise ReadModelBehindError(held, self.catching_up_to)
            self.catching_up_to = 0

    def current_failure(self) -> ProjectionFailure | None:
        """Why the read model cannot go on, wherever it is projected: kept in memory while this
        process's loop runs (it projects, or follows the process that does), else read."""
        return self.failure if self.running() else self.read_failure()

    def applied(self) -> int:
        """The last position the read model holds, as this process knows it."""
        if self.running():
            return self.position
        return self.projection.view.max_tracking_id(self.application_name) or 0

    def wait(self, position: int, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        if self._thread is None:
            self._poll_until(position, deadline)
            return
        if self.position >= position:  # applied already (in the writer's transaction)
            return
        self._wanted = max(self._wanted, position)
        self._wake.set()
        with self._changed:
            while self.position < position:
                failure = self.failure
                if failure is not None and failure.notification_id <= position:
                    raise ProjectionStuckError(failure)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    raise TimeoutError(position)
                self._changed.wait(remaining)

    async def check_async(self) -> None:
        if self.running():  # the failure is in memory: nothing to read
            self.check()
        else:
            await asyncio.to_thread(self.check)

    async def wait_async(self, position: int) -> None:
        if self._thread is not None and self.position >= position:  # the usual case: the
            return  # writer's own transaction applied it
        await asyncio.to_thread(self.wait, position)

    def _poll_until(self, position: int, deadline: float) -> None:
        delay = 0.005
        while (self.projection.view.max_tracking_id(self.application_name) or 0) < position:
            failure = self.read_failure()
            if failure is not None and failure.notification_id <= position:
                raise ProjectionStuckError(failure)
            if time.monotonic() > deadline:
                raise TimeoutError(position)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def read_failure(self) -> ProjectionFailure | None:
        """The failure the projecting process (this one or another) recorded, if any."""
        row = self.projection.view.get(FAILURES.name, self.projection.name)
        return ProjectionFailure.from_row(row) if row is not None else None

    # --- processing -----------------------------------------------------------------------
    def step(self) -> int:
        """Processes one page of new notifications; returns how many."""
        batch = self._take_offered(self.position)
        if batch is not None:
            self.handed_over += 1
        else:
            batch = self._prefetched(self.position)
        if batch is None:
            batch = self._read(self.position)
            if batch and (skipped := self._skip_applied(batch)):
                return skipped
        if not batch:
            return 0
        last = batch[-1][1].notification_id
        if len(batch) >= self.page_size:  # a burst: read and decode the next page meanwhile
            self._read_ahead(last)
        try:
            self.projection.process_batch(batch, bulk=self._bulk)
        except Exception as exc:
            if skipped := self._skip_applied(batch):  # a writer's transaction won the race
                return skipped
            if len(batch) > 1:
                return self._one_by_one(batch)
            event, tracking = batch[0]
            raise EventFailedError(event, tracking.notification_id, exc) from exc
        self._advance(last, len(batch))
        return len(batch)

    @contextmanager
    def replaying(self, page_size: int) -> Iterator[None]:
        """Steps read pages of `page_size` events and apply each with its changes reordered
        and folded (TableView.apply_bulk); a page that fails is applied again event by event
        the usual way, so the failure is contained and named as in live projection."""
        before = self.page_size, self._bulk
        self.page_size, self._bulk = page_size, True
        try:
            yield
        finally:
            self.page_size, self._bulk = before
            self._ahead = None  # read at the replay's page size

    def _catch_up_pages(self) -> None:
        """While the read model holds less of the log than it did at start (a rebuild after an
        upgrade, an interrupted replay: `catching_up_to`), pages are read and applied as a
        replay's, large and folded: in pages of 500 applied change by change, the rebuild at
        start ran at a third of `edge-admin replay`'s rate (16,700 events/s against 50,000).
        Writes are refused meanwhile (`check`), so no writer waits on a page this large."""
        bulk = (self.position < self.catching_up_to and self.failure is None
                and self.store_away is None)  # stuck: the live way, as ever (and collected)
        if bulk != self._bulk:
            self.page_size, self._bulk = (CATCH_UP_PAGE, True) if bulk else (self._live_page, False)
            self._ahead = None  # read at the other page size
            if bulk:
                self._collections = rare_collections()
                self._collections.__enter__()
            else:
                self._end_collections()
        if bulk:
            self.collect_now_and_then()

    def collect_now_and_then(self) -> None:
        """Collects cyclic garbage every COLLECT_EVERY events applied (rare_collections)."""
        if self.processed - self._collected >= COLLECT_EVERY:
            self._collected = self.processed
            gc.collect()

    def _end_collections(self) -> None:
        collections, self._collections = self._collections, None
        if collections is not None:
            collections.__exit__(None, None, None)

    def _one_by_one(self, batch: list[tuple[Any, Tracking]]) -> int:
        """A page failed as a whole (nothing of it was applied): apply its events one at a
        time, so every event before the bad one is applied and the bad one is named."""
        self._ahead = None  # the page read ahead follows the failed one; it would be stale
        for event, tracking in batch:
            try:
                self.projection.process_batch([(event, tracking)])
            except Exception as exc:
                raise EventFailedError(event, tracking.notification_id, exc) from exc
            self._advance(tracking.notification_id, 1)
        return len(batch)

    def _advance(self, position: int, count: int) -> None:
        with self._changed:
            # A writer's transaction may have moved it further meanwhile (applied_in_commit).
            moved = position > self.position
            self.position = max(self.position, position)
            self.processed += count
            self._changed.notify_all()
        if moved:
            self._tell()

    def _tell(self) -> None:
        for observer in self.moved:
            observer()

    def _skip_applied(self, batch: list[tuple[Any, Tracking]]) -> int:
        """How many events at the head of the page the tracking position already covers
        (writers' transactions applied them: adapters.pg_commit_projection); the position
        moves past them and the loop steps again at once for the rest. 0: none."""
        try:
            tracked = self.projection.view.max_tracking_id(self.application_name) or 0
        except Exception:  # noqa: BLE001 - the apply itself will say what is wrong
            return 0
        covered = sum(1 for _, tracking in batch if tracking.notification_id <= tracked)
        if not covered:
            return 0
        self._ahead = None  # it was read from the old position
        with self._changed:
            moved = tracked > self.position
            self.position = max(self.position, tracked)
            self._changed.notify_all()
        if moved:
            self._tell()
        self._wake.set()
        return covered

    def _read(self, start: int) -> list[tuple[Any, Tracking]]:
        self.log_reads += 1
        notifications = self.recorder.select_notifications(
            start=start, limit=self.page_size, inclusive_of_start=False
        )
        return [
            (self.mapper.to_domain_event(n), Tracking(self.application_name, n.id))
            for n in notifications
        ]

    def _take_offered(self, start: int) -> list[tuple[Any, Tracking]] | None:
        """The offered events if the first follows `start` directly. Commits happen in
        notification order (the store's table lock), so nothing else can fall in between."""
        with self._offers:
            # Woken by the commit's NOTIFY before the writer could hand its events over.
            self._offers.wait_for(lambda: not self._saving or self._offered is not None,
                                  timeout=OFFER_WAIT)
            offered, self._offered = self._offered, None
        if not offered or offered[0][1] != start + 1:
            return None
        return [(event, Tracking(self.application_name, nid)) for event, nid in offered]

    def _read_ahead(self, start: int) -> None:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="projection-read")
        self._ahead = (start, self._reader.submit(self._read, start))

    def _prefetched(self, start: int) -> list[tuple[Any, Tracking]] | None:
        """The page read ahead, if it starts where we are (else it is stale: dropped)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[0] != start:
            return None
        try:
            return ahead[1].result()
        except Exception:
            log.exception("reading ahead failed; reading again")
            return None

    def catch_up(self) -> int:
        """Processes everything recorded so far (used by replay and tests)."""
        total = 0
        while count := self.step():
            total += count
        return total

    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        name = f"projection-{self.projection.name}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
        with self._changed:
            self._changed.notify_all()

    def follow(self) -> None:
        """Catches the position up with what another process has applied, and takes over the
        failure it recorded (so writers here are refused too)."""
        current = self.projection.view.max_tracking_id(self.application_name) or 0
        now = time.monotonic()
        if now - self._failure_read >= FAILURE_READ_EVERY:
            self._failure_read = now
            self.failure = self.read_failure()
        with self._changed:
            moved = current > self.position
            self.position = max(self.position, current)
            self._changed.notify_all()
        if moved:
            self._tell()

    def _loop(self) -> None:
        try:
            self._run()
        finally:
            self._end_collections()  # stopped while catching up

    def _run(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                self._wake.clear()
                if not self.leader():
                    self.follow()
                    behind = self.position < self._wanted
                    self._wake.wait(0.005 if behind else self.poll_interval)
                    continue
                self._catch_up_pages()
                applied = self.step()
                if self.failure is not None or self.store_away is not None or not self._published:
                    self._recovered()  # also clears what a stopped process left recorded
                if applied >= self.page_size:
                    continue
                backoff = self.poll_interval
            except Exception as exc:  # noqa: BLE001 - whatever it is, it is reported and retried
                self._failed(exc)
                cap = RETRY_CAP if self.store_away is None else STORE_RETRY_CAP
                backoff = min(max(backoff, self.poll_interval) * 2, cap)
                self._resync()
                # New writes would wake it at once; they cannot help the stuck event.
                self._stop.wait(backoff)
                continue
            self._wake.wait(backoff)

    def _failed(self, exc: BaseException) -> None:
        self.failed_attempts += 1
        cause = exc.cause if isinstance(exc, EventFailedError) else exc
        if is_store_trouble(cause):
            self._store_away(cause)
            return
        self.store_away = None  # the database answered, to say what is wrong with the event
        if isinstance(exc, EventFailedError):
            nid, event_type, cause = exc.notification_id, type_name(exc.event), exc.cause
        else:  # reading or decoding the page failed: the next event is the one in question
            nid, event_type, cause = self.position + 1, "", exc
        error = describe_error(cause)
        previous = self.failure
        same = (previous is not None and previous.notification_id == nid
                and previous.error == error)
        self.failure = ProjectionFailure(
            projection=self.projection.name, position=self.position, notification_id=nid,
            event_type=event_type, error=error,
            since=previous.since if same and previous else time.time(),
            attempts=(previous.attempts if same and previous else 0) + 1,
        )
        with self._changed:
            self._changed.notify_all()  # writers waiting for this event are answered now
        now = time.monotonic()
        if not same:
            self._reminded = now
            log.error("projection %s cannot apply %s; writes are refused until it can "
                      "(retrying every %.0fs at most)", self.projection.name,
                      self.failure.describe(), RETRY_CAP, exc_info=cause)
        elif now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            log.error("projection %s still stuck: %s", self.projection.name,
                      self.failure.describe())
        self._publish(self.failure)

    def _store_away(self, exc: BaseException) -> None:
        """The database is away, or broke the work off: no event is in question, so writers
        are not refused in its name (they fail on the database themselves, or wait for the read
        model as usual, and go on when it is back). Readiness says so."""
        now = time.monotonic()
        if self.store_away is None or now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            log.warning("projection %s waits for the database: %s", self.projection.name,
                        describe_error(exc))
        self.store_away = describe_error(exc)
        self.store_short_of = store_trouble_reason(exc)

    def clear_failure(self) -> None:
        """Everything up to the head was applied (a replay): forget any recorded failure."""
        self._recovered()

    def _recovered(self) -> None:
        failure, self.failure = self.failure, None
        if self.store_away is not None:
            self.store_away = None
            log.warning("projection %s: the database answers again", self.projection.name)
        if failure is not None:
            log.warning("projection %s resumed: %s now applied after %d attempts",
                        self.projection.name, failure.describe_event(), failure.attempts)
        self._publish(None)

    def _publish(self, failure: ProjectionFailure | None) -> None:
        """Records the failure where other processes (and `projections status`) read it."""
        name = self.projection.name
        change = (Upsert(FAILURES.name, failure.to_row()) if failure is not None
                  else Delete(FAILURES.name, {"name": name}))
        try:
            self.projection.view.apply_untracked([change])
            self._published = True
        except Exception:
            log.debug("could not record the state of projection %s", name, exc_info=True)

    def _resync(self) -> None:
        try:
            self.position = self.projection.view.max_tracking_id(self.application_name) or 0
        except Exception:
            log.debug("could not read tracking position", exc_info=True)


@contextmanager
def rare_collections() -> Iterator[None]:
    """While pages are large (a replay, a catch-up at start): a replay allocates millions of
    short-lived objects (events, changes, rows), nearly all freed by reference counting; the
    cyclic collector, run every 700 allocations by default, kept rescanning each page's and
    cost a third of the replay's CPU. Every 50,000 it still cost a fifth: each collection
    walked the pages in hand (a page and the one read ahead) and found nothing (20 collections
    over 100,000 events freed no object). Meanwhile it runs only when called
    (`collect_now_and_then`), over what was allocated since (older objects are frozen)."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def type_name(event: Any) -> str:
    """`App.Restored` for an event class nested in its aggregate."""
    return type(event).__qualname__
