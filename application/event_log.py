"""Reading the public catalog back out of the event store: the audit list and stream tails.

Positions, topics and subjects are columns of the store, so the log adapter filters, counts and
pages them in SQL. `occurred_at` lives inside each event's JSON state: filtering by it means
decoding every candidate the column filters leave. That scan is exact (totals stay correct even
though `at` is not strictly monotonic in position: writers in different processes decide at
different times than they commit), and bounded: a query whose candidates exceed `max_scan`
is refused with a hint to narrow it by position, type or subject.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from application.store import EdgeStore
from domain.catalog import EVENT_TYPES, Message, to_message, topics_for
from domain.catalog import message_id as catalog_id

MAX_SCAN = 100_000
SCAN_CHUNK = 1000


class QueryTooBroadError(ValueError):
    """A time filter would have to decode more stored events than one request may."""


def select_types(values: Iterable[str]) -> tuple[str, ...]:
    """Catalog types from repeated and/or comma-separated values; empty means every type."""
    chosen: list[str] = []
    for value in values:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts:
            raise ValueError("can't be blank")
        chosen += parts
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event type(s): {', '.join(unknown)}; see GET /api/v1/event_types"
        )
    return tuple(dict.fromkeys(chosen))


def topics_of(types: Sequence[str]) -> tuple[str, ...]:
    """Stored-event topics carrying these catalog types (all public ones when empty).

    Empty for types that no stored event produces yet: callers must not pass that on to the
    recorder, where no topics means every topic.
    """
    return tuple(get_topic(cls) for cls in topics_for(tuple(types) or EVENT_TYPES))


def decode(mapper: Mapper[UUID], notifications: Iterable[Notification]) -> list[Message]:
    messages = []
    for notification in notifications:
        message = to_message(mapper.to_domain_event(notification), notification.id)
        if message is not None:
            messages.append(message)
    return messages


def messages_after(
    store: EdgeStore, cursor: int, topics: Sequence[str], limit: int
) -> tuple[list[Message], int]:
    """Messages strictly after `cursor` and the position reached: the last one read, or the
    head of the log read with them when the page is short.

    Notification ids become visible in order (the store inserts under a table lock), so
    resuming after the position reached never skips or repeats an event, and a short page
    holds every event of those topics up to the head: the next read starts there, not at the
    last match (a stream of a rare type read every later event again at each wake-up).
    """
    if not topics:
        return [], cursor
    notifications, head = store.page_after(cursor, limit, list(topics))
    end = notifications[-1].id if notifications else cursor
    if len(notifications) < limit:
        end = max(end, head)
    return decode(store.mapper, notifications), end


LAST_POSITION = 2**63 - 1  # a signed 64-bit integer, in PostgreSQL and SQLite alike


@dataclass(frozen=True)
class Window:
    """What the store can filter on directly: topic, position range (inclusive), originator."""

    topics: tuple[str, ...]
    low: int = 1
    high: int | None = None
    subject_id: UUID | None = None
    descending: bool = False

    @property
    def empty(self) -> bool:
        """Nothing can match: no topic, an empty range, or a range past the last position a
        store holds (2^63-1: the first position after a cursor at it is not a stored integer)."""
        return (not self.topics or self.low > LAST_POSITION
                or (self.high is not None and self.high < self.low))


class EventLog(Protocol):
    """Counts and pages stored notifications in a Window, in position order."""

    def head(self) -> int:
        """The newest position committed (0: none). Every position below it is committed too
        (ids become visible in order), so a window bounded by it never changes."""
        ...

    def count(self, window: Window) -> int: ...

    def find(self, message_id: UUID) -> Notification | None:
        """The stored event whose catalog message id this is (domain.catalog.message_id),
        if the index of message ids holds it."""
        ...

    def select(self, window: Window, offset: int, limit: int) -> Sequence[Notification]: ...


@dataclass(frozen=True)
class AuditQuery:
    """One page of the audit list; positions are inclusive bounds, times RFC 3339 instants."""

    types: tuple[str, ...] = ()
    low: int = 1
    high: int | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    subject_id: UUID | None = None
    descending: bool = False
    page: int = 1
    page_size: int = 20

    def window(self) -> Window:
        return Window(topics_of(self.types), max(self.low, 1), self.high, self.subject_id,
                      self.descending)

    def timed(self) -> bool:
        return self.occurred_from is not None or self.occurred_to is not None

    def admits(self, message: Message) -> bool:
        if self.occurred_from is not None and message.occurred_at < self.occurred_from:
            return False
        return self.occurred_to is None or message.occurred_at <= self.occurred_to


@dataclass(frozen=True)
class AuditPage:
    messages: list[Message]
    total: int
    # The newest position the page and its total cover: the log's head when it was read (or
    # the query's own `high`, if lower). Asked again with it as `high`, every later page of the
    # same query sees the same rows, however many events are written meanwhile.
    high: int = 0


class EventAudit:
    """The audit list: column filters in the store, time filters by an exact bounded scan."""

    def __init__(self, log: EventLog, mapper: Mapper[UUID], max_scan: int = MAX_SCAN,
                 indexed_through: Callable[[], int] = lambda: 0,
                 filled: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> None:
        self.log = log
        self.mapper = mapper
        self.max_scan = max_scan
        # The position up to which the log's index of message ids holds every public event
        # the relay published (its recorded position: it writes the entries with it).
        self.indexed_through = indexed_through
        # (through, until) of the filling in of the events saved before the index existed:
        # those up to `through` are in it, those past it up to `until` may not be yet.
        self.filled = filled

    def page(self, query: AuditQuery) -> AuditPage:
        """One page of the query, pinned to the log as it is now: offsets count from the
        newest end when descending, where each write moved every row one place on."""
        head = self.log.head()
        high = head if query.high is None else min(query.high, head)
        window = replace(query.window(), high=high)
        if window.empty:
            return AuditPage([], 0, max(high, 0))
        offset = (query.page - 1) * query.page_size
        if not query.timed():
            total = self.log.count(window)
            rows = self.log.select(window, offset, query.page_size) if offset < total else []
            return AuditPage(decode(self.mapper, rows), total, high)
        candidates = self.log.count(window)
        if candidates > self.max_scan:
            raise QueryTooBroadError(
                f"{candidates} stored events fall in this query and filtering them by time "
                f"decodes each one (limit {self.max_scan}); narrow it with "
                "position__gte/position__lte, type or subject_id"
            )
        return replace(self._scan(window, query, offset), high=high)

    def _scan(self, window: Window, query: AuditQuery, offset: int) -> AuditPage:
        kept: list[Message] = []
        total = 0
        while True:
            rows = self.log.select(window, 0, SCAN_CHUNK)
            for message in decode(self.mapper, rows):
                if query.admits(message):
                    if offset <= total < offset + query.page_size:
                        kept.append(message)
                    total += 1
            if len(rows) < SCAN_CHUNK:
                return AuditPage(kept, total)
            # Keyset paging: the next chunk starts past the last position seen.
            last = rows[-1].id
            window = replace(window, high=last - 1) if window.descending else replace(
                window, low=last + 1
            )

    def find(self, message_id: UUID, subject_id: UUID | None = None) -> Message | None:
        """One public message by its id (Appaloft's audit event show), through the log's index
        of message ids, or among the public events past what the index holds yet (the relay's
        lag) by hashing each; None if it is not one, or not about `subject_id` when given."""
        # Read before the index: the relay and the filling commit their positions with the
        # entries up to them, so those entries are in the index when the index is read.
        filled, until = self.filled()
        relayed = self.indexed_through()
        row = self.log.find(message_id)
        if row is None:
            row = self._hashing(message_id, not_indexed(filled, until, relayed, subject_id))
        if row is None:
            return None
        originator = row.originator_id
        if not isinstance(originator, UUID):
            originator = UUID(originator)
        # The id is made again from the row: a damaged index entry finds nothing, not another.
        if catalog_id(originator, row.originator_version) != message_id or (
                subject_id is not None and originator != subject_id):
            return None
        found = decode(self.mapper, [row])
        return found[0] if found else None

    def _hashing(self, message_id: UUID, windows: Sequence[Window]) -> Notification | None:
        """The event of `windows` whose (originator, version) hash to `message_id`: a message's
        id comes from columns of the row, so only the match is decoded. Past `max_scan` rows
        of every aggregate it gives up (QueryTooBroadError): the relay is that far behind
        (NATS away for long), or the filling of older events that far from done, and each
        lookup would hash all of them."""
        hashed = 0
        for window in windows:
            while not window.empty:
                if window.subject_id is None and hashed >= self.max_scan:
                    raise QueryTooBroadError(
                        f"over {self.max_scan} events are past the index of message ids (its "
                        "relay is behind: is NATS away? or it is still being filled in for the "
                        "events saved before this release); name the event's aggregate "
                        "(aggregateId)")
                rows = self.log.select(window, 0, SCAN_CHUNK)
                hashed += len(rows)
                for row in rows:
                    originator = row.originator_id
                    if catalog_id(originator if isinstance(originator, UUID)
                                  else UUID(originator), row.originator_version) == message_id:
                        return row
                if len(rows) < SCAN_CHUNK:
                    break
                window = replace(window, low=rows[-1].id + 1)
        return None


def not_indexed(filled: int, until: int, relayed: int,
                subject_id: UUID | None = None) -> list[Window]:
    """Where the index of message ids may lack a public event: past what the relay recorded
    (and past what the filling did: every event up to it is in), and the filling's range not
    reached yet. The tail first: the newest events, a few unless NATS is away."""
    public = topics_of(())
    tail = Window(public, low=max(filled, relayed) + 1, subject_id=subject_id)
    if filled >= until:
        return [tail]
    if tail.low <= until + 1:  # they meet: one window
        return [replace(tail, low=filled + 1)]
    return [tail, Window(public, low=filled + 1, high=until, subject_id=subject_id)]
