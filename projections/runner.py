"""Tails the event store's notification log and feeds a projection in batches.

eventsourcing's ProjectionRunner hands events over one at a time and needs a recorder that
supports subscriptions (SQLite has none); this runner pulls pages of notifications, applies each
page in one view transaction and wakes on in-process writes or a short poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking

from projections.view import TableView

log = logging.getLogger(__name__)


class BatchProjection(Protocol):
    name: str

    @property
    def view(self) -> TableView: ...

    def process_batch(self, batch: list[tuple[Any, Tracking]]) -> None: ...


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

    # --- ReadModelWaiter port -------------------------------------------------------------
    def notify_written(self, position: int) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Something was committed somewhere: look for new notifications now."""
        self._wake.set()

    def wait(self, position: int) -> None:
        deadline = time.monotonic() + self.wait_timeout
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
        notifications = self.recorder.select_notifications(
            start=self.position, limit=self.page_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        batch = [
            (self.mapper.to_domain_event(n), Tracking(self.application_name, n.id))
            for n in notifications
        ]
        self.projection.process_batch(batch)
        with self._changed:
            self.position = notifications[-1].id
            self.processed += len(notifications)
            self._changed.notify_all()
        return len(notifications)

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
                if self.step() == self.page_size:
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
