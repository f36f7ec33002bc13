"""Tails the event store's notification log and feeds a projection in batches.

eventsourcing's ProjectionRunner hands events over one at a time and needs a recorder that
supports subscriptions (SQLite has none); this runner pulls pages of notifications, applies each
page in one view transaction and wakes on in-process writes or a short poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking

from projections.view import TableView

log = logging.getLogger(__name__)


class BatchProjection(Protocol):
    name: str

    @property
    def view(self) -> TableView: ...

    def process_batch(self, batch: list[tuple[Any, Tracking]]) -> None: ...


OFFER_WAIT = 0.5  # at most this long for a save in flight here, before reading from the store


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

    # --- ReadModelWaiter port -------------------------------------------------------------
    def notify_written(self, position: int) -> None:
        self._wake.set()

    def saving(self) -> None:
        with self._offers:
            self._saving += 1

    def saved(self, events: Sequence[tuple[Any, int]]) -> None:
        with self._offers:
            self._saving = max(0, self._saving - 1)
            if events and self._thread is not None:
                self._offered = sorted(events, key=lambda pair: pair[1])
            self._offers.notify_all()
        self._wake.set()

    def wake(self) -> None:
        """Something was committed somewhere: look for new notifications now."""
        self._wake.set()

    def wait(self, position: int, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        if self._thread is None:
            self._poll_until(position, deadline)
            return
        self._wanted = max(self._wanted, position)
        self._wake.set()
        with self._changed:
            while self.position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    raise TimeoutError(position)
                self._changed.wait(remaining)

    def _poll_until(self, position: int, deadline: float) -> None:
        delay = 0.005
        while (self.projection.view.max_tracking_id(self.application_name) or 0) < position:
            if time.monotonic() > deadline:
                raise TimeoutError(position)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

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
        if not batch:
            return 0
        last = batch[-1][1].notification_id
        if len(batch) >= self.page_size:  # a burst: read and decode the next page meanwhile
            self._read_ahead(last)
        self.projection.process_batch(batch)
        with self._changed:
            self.position = last
            self.processed += len(batch)
            self._changed.notify_all()
        return len(batch)

    def _read(self, start: int) -> list[tuple[Any, Tracking]]:
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
        """Catches the position up with what another process has applied."""
        current = self.projection.view.max_tracking_id(self.application_name) or 0
        with self._changed:
            self.position = max(self.position, current)
            self._changed.notify_all()

    def _loop(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                self._wake.clear()
                if not self.leader():
                    self.follow()
                    behind = self.position < self._wanted
                    self._wake.wait(0.005 if behind else self.poll_interval)
                    continue
                if self.step() >= self.page_size:
                    continue
                backoff = self.poll_interval
            except Exception:
                log.exception("projection %s failed; retrying", self.projection.name)
                backoff = min(backoff * 2, 5.0)
                self._resync()
            self._wake.wait(backoff)

    def _resync(self) -> None:
        try:
            self.position = self.projection.view.max_tracking_id(self.application_name) or 0
        except Exception:
            log.exception("could not read tracking position")
