"""The relay: tails the event store's notification log and publishes the public catalog.

Publishing never happens inline with a request. The relay reads what is committed, publishes it
in store order and then records how far it got; after a crash it resumes from that record and the
broker drops the re-sent head by message id (JetStream's duplicate window, 2 h, far longer than
the relay goes without recording).

It records at most every RECORD_EVERY while it keeps publishing, and once more when it falls
idle or stops: with a write at a time each pass is one batch, and recording each (a transaction
of its own) was a third of the relay's work. A crash re-sends at most that much, which the
broker drops and the webhook fan-out enqueues once (deliveries are keyed by webhook and event).

With its position it records the message id of each public event it published since (one
multi-row insert in the same transaction): the index GET /audit-events/{id} reads, so it holds
every public event up to the recorded position, and a save's own transaction writes nothing
for it (adapters/event_message_ids.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from application.ports import EventPublisher, MessageKey, RelayTracking
from application.store import EdgeStore
from application.troubles import Trouble
from application.wakeup import Stopped, Wakeup, pause, unless_stopped
from domain.catalog import PUBLIC_EVENTS, Message, to_message

log = logging.getLogger(__name__)
PUBLIC_TOPICS = tuple(get_topic(cls) for cls in PUBLIC_EVENTS)
# A batch read from the log: its messages, the position it takes the relay to, and whether
# the page was short (it holds everything up to the head).
Batch = tuple[list[Message], int, bool]
RECORD_EVERY = 0.5  # seconds: how long the position may go unrecorded while publishing goes on
# Seconds a pass waits once woken, so that the writes of the next few milliseconds go in the
# same pass: with one writer at a time, each write had a pass of its own (a read, a publish
# and a fan-out), a third of the write's CPU, competing with the writer's next request.
LINGER = 0.01
# Seconds without anything to publish after which the relay asks the broker whether it could
# (`EventPublisher.check`): a stream deleted meanwhile was made again only at the next event.
IDLE_CHECK = 5.0


class Relay:
    """One relay per database is active at a time (see `leader`); others stand by."""

    def __init__(  # noqa: PLR0913
        self,
        store: EdgeStore,
        publisher: EventPublisher,
        tracking: RelayTracking,
        *,
        batch_size: int = 2000,
        poll_interval: float = 0.05,
        leader: Callable[[], bool] | None = None,
        settled: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        # Waits (bounded; TimeoutError) until the read models hold a position. Publishing after
        # them means a subscriber can read back what an event names, and in a burst the
        # projector (which answers waiting API clients) gets the CPU first.
        self.settled = settled
        self.publisher = publisher
        self.tracking = tracking
        self.tracking_name = f"relay:{store.name}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.leader = leader or (lambda: True)
        self.position = 0
        self.recorded = 0  # the position this process last recorded
        # (message id, position) of what it published past `recorded`: recorded with it.
        self.unrecorded: list[MessageKey] = []
        self._recorded_at = -math.inf  # when (monotonic): a first pass records at once
        self.published = 0
        self.read = 0  # messages read for publishing (some more than once, after a failure)
        self.failed_batches = 0
        # Why the last batch was not published (the publisher's words), None once one is:
        # readiness reports it, since the connection alone looks fine to a stream deleted.
        self.publish_failure: str | None = None
        self.trouble = Trouble(log, "the relay")  # backing off up to 5 s meanwhile
        self.idle_check = IDLE_CHECK
        self._checked_at = time.monotonic()  # when the broker was last known to take messages
        self._wakeup = Wakeup()

    def wake(self, *_: Any) -> None:
        """Thread-safe: a write committed somewhere, look now instead of at the next poll."""
        self._wakeup.set()

    def read_batch(self, start: int) -> tuple[list[Message], int]:
        """Messages after `start` and the position they take the relay to."""
        messages, end, _ = self._read(start)
        return messages, end

    def _read(self, start: int) -> Batch:
        """`read_batch`, and whether the page was short: then it holds every public event up
        to the head read with it (ids become visible in commit order: the recorders insert
        under a table lock), so the relay moves on to that head past internal events, and its
        lag reaches 0 when nothing is owed. Before it returns messages, the read models are
        let reach them (in this thread: one hand-off for both)."""
        notifications, head = self.store.page_after(start, self.batch_size, PUBLIC_TOPICS)
        messages = []
        for notification in notifications:
            message = to_message(self.store.mapper.to_domain_event(notification), notification.id)
            if message is not None:
                messages.append(message)
        end = notifications[-1].id if notifications else start
        short = len(notifications) < self.batch_size
        if short:
            end = max(end, head)
        if messages:
            self._let_read_models_settle(end)
        return messages, end, short

    def _lead_and_read(self, leading: bool) -> Batch | None:
        """A pass's first step, in one hand-off to a thread: None if another process leads;
        else the first batch, read from the recorded position when the lead was just taken
        (another process may have relayed until then)."""
        if not self.leader():
            return None
        if not leading:
            self.position = self.recorded = self.recorded_position()
            self.unrecorded = []  # published again from there, and recorded with it then
        return self._read(self.position)

    async def drain(self, stop: asyncio.Event, first: Batch | None = None) -> int:
        """Publishes everything recorded so far (from `first`, if already read); reads the
        next batch while publishing a full one. After a short batch there is nothing more to
        read: whatever commits later wakes the relay again (the wake-up is cleared before
        this pass's read), so a lone write costs one read of the log, not two."""
        relayed = 0
        reading: asyncio.Task[Batch] | None = None
        if first is None:
            reading = asyncio.create_task(asyncio.to_thread(self._read, self.position))
        try:
            while first is not None or reading is not None:
                if reading is not None:
                    first, reading = await reading, None
                assert first is not None
                (messages, end, short), first = first, None
                if end == self.position or stop.is_set():
                    return relayed
                if not short:
                    reading = asyncio.create_task(asyncio.to_thread(self._read, end))
                if messages:
                    self.read += len(messages)
                    try:
                        await self.publisher.publish(messages)
                    except Exception as exc:
                        self.failed_batches += 1
                        self.publish_failure = f"{type(exc).__name__}: {exc}"
                        raise
                    self.publish_failure = None
                self.position = end
                self.unrecorded += [(m.id, m.position) for m in messages]
                self.published += len(messages)
                relayed += len(messages)
                if self.record_due() == 0:
                    await self.record()
            return relayed
        finally:
            # Awaited, not cancelled: cancelling leaves the read running in its thread, and the
            # store may be closed under it next (a segfault on SQLite).
            if reading is not None:
                with contextlib.suppress(Exception):
                    await reading

    async def run(self, stop: asyncio.Event) -> None:
        self._wakeup.bind()
        if not await self._start_publisher(stop):
            self._wakeup.unbind()
            return
        backoff = self.poll_interval
        leading = False  # led without interruption since the position was last read
        try:
            while not stop.is_set():
                self._wakeup.clear()
                try:
                    first = await asyncio.to_thread(self._lead_and_read, leading)
                    # Standing by or not, a dropped connection is opened again: readiness reads
                    # it, and a standby that never did stayed "not connected to NATS" (503) for
                    # as long as another process led, after a broker restart of a second.
                    if not self.publisher.connected:
                        await unless_stopped(self.publisher.reconnect(), stop)
                    if first is None:
                        leading = False
                        self.publish_failure = None  # another process relays now
                        self.trouble.over()
                        await self._wakeup.sleep(stop, 1.0)
                        continue
                    leading = True
                    if await self.drain(stop, first):
                        self._checked_at = time.monotonic()
                    elif time.monotonic() - self._checked_at >= self.idle_check:
                        await self._check_publisher()
                    if self.record_due() == 0:
                        await self.record()
                    self.trouble.over(f" from position {self.position}")
                    backoff = self.poll_interval
                except Stopped:
                    break
                except Exception as exc:  # noqa: BLE001 - the relay outlives broker/db outages
                    leading = False  # read the recorded position again before going on
                    self.trouble.failed(exc, where=f" at position {self.position}")
                    backoff = min(max(backoff * 2, 0.1), 5.0)
                due = self.record_due()
                await self._wakeup.sleep(stop, backoff if due is None else min(due, backoff))
                await pause(stop, LINGER)
        finally:
            self._wakeup.unbind()
            if leading and self.record_due() is not None:  # what it published, kept for the next
                with contextlib.suppress(Exception):
                    await self.record()
            await self.publisher.close()

    async def _check_publisher(self) -> None:
        """Nothing was owed (this pass published nothing and failed nothing, so no batch
        waits): whether the next one could go out; readiness says so when not."""
        self._checked_at = time.monotonic()
        try:
            await self.publisher.check()
        except Exception as exc:
            self.publish_failure = f"{type(exc).__name__}: {exc}"
            raise
        self.publish_failure = None

    def record_due(self) -> float | None:
        """Seconds until the published position should be recorded (0: now); None: it is."""
        if self.position == self.recorded:
            return None
        return max(0.0, self._recorded_at + RECORD_EVERY - time.monotonic())

    async def record(self) -> None:
        """Records the position published so far (forwards only, like any tracking row) and
        the message ids of what was published since the last record."""
        position, ids = self.position, list(self.unrecorded)
        if position != self.recorded:
            await asyncio.to_thread(self.tracking.insert_tracking_and_ids,
                                    Tracking(self.tracking_name, position), ids)
            self.recorded = position
            del self.unrecorded[:len(ids)]
        self._recorded_at = time.monotonic()

    async def _start_publisher(self, stop: asyncio.Event) -> bool:
        """Connects, however long the broker is away, unless the process stops first."""
        try:
            await unless_stopped(self.publisher.start(), stop)
        except Stopped:
            with contextlib.suppress(Exception):
                await self.publisher.close()
            return False
        return True

    def _let_read_models_settle(self, position: int) -> None:
        if self.settled is None:
            return
        try:
            self.settled(position)
        except TimeoutError:  # read models stalled or run nowhere: publish all the same
            log.debug("relay publishing ahead of the read models")

    def recorded_position(self) -> int:
        """The position the relay (of whichever process) last recorded: the index of message
        ids holds every public event up to it."""
        return self.tracking.max_tracking_id(self.tracking_name) or 0

    def published_position(self) -> int:
        """How far the relay has published: its tracking record, or where this process
        relays, how far it got since it last recorded (only one relays at a time)."""
        return max(self.position, self.recorded_position())

    def lag(self, head: int | None = None) -> int:
        """Notifications recorded (up to `head`, read here if not given) but not yet relayed
        by whichever process relays; 0 when caught up."""
        if head is None:
            head = self.store.recorder.max_notification_id() or 0
        return max(0, head - self.published_position())
