"""GET /api/v1/events (audit list from the store) and GET /api/v1/events/stream (SSE).

Both read the event store, never NATS, so they work the same over the embedded SQLite store
with the in-process bus and over PostgreSQL with JetStream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from application.event_log import (
    AuditQuery,
    EventAudit,
    QueryTooBroadError,
    messages_after,
    select_types,
    topics_of,
)
from application.store import EdgeStore
from domain.catalog import Message
from entrypoints.bootstrap import Services
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import first_of, services, stopping_event
from entrypoints.http.listing import (
    ListSpec,
    Param,
    exact,
    parse_int,
    parse_list_query,
    parse_uuid,
    time_range,
)
from entrypoints.http.openapi.events import EVENTS_DESCRIPTION, LIST_META, STREAM_DESCRIPTION
from entrypoints.http.openapi.op import EVENT, Op
from entrypoints.http.responses import paginated
from entrypoints.http.routing import route
from entrypoints.http.sse import last_event_id, unless_away
from entrypoints.http.wakeups import Wakeups, wakeups
from projections.query import Cond, ListQuery, Order, Page

HEARTBEAT_SECONDS = 15.0
# Wake-ups come from this process's write path at once; writes by other processes (a second
# API process, the CLI) are noticed by polling the store this often.
POLL_SECONDS = 0.25
STREAM_BATCH = 500
_encode = msgspec.json.Encoder().encode


def parse_event_types(raw: str) -> str:
    """One or more catalog types, comma-separated (the parameter may also repeat)."""
    select_types([raw])
    return raw


def parse_position(raw: str) -> int:
    value = parse_int(raw)
    if value < 0:
        raise ValueError("must be greater than or equal to 0")
    return value


def _position(name: str, op: str) -> Param:
    return Param(name, parse_int, lambda v: (Cond("position", op, v),))


SPEC = ListSpec(
    params=(
        # Validated here for the error details; all values (repeated or comma-separated) are
        # read in parse_audit_query.
        Param("type", parse_event_types, lambda v: ()),
        _position("position__gt", "gt"),
        _position("position__gte", "ge"),
        _position("position__lte", "le"),
        *time_range("occurred_at"),
        exact("subject_id", parse_uuid),
    ),
    sortable=("position",),
    default_order=(Order("position"),),
    docs={
        "type": "Event type; repeat the parameter or separate types with commas",
        "position__gt": "Only events after this position (resume point)",
        "position__gte": "Only events at or after this position",
        "position__lte": "Only events at or before this position",
        "subject_id": "Only events about this node or enrollment key",
    },
)


def parse_audit_query(request: Request) -> AuditQuery:
    errors: dict[str, list[str]] = {}
    types: tuple[str, ...] = ()
    try:
        types = select_types(request.query_params.getlist("type"))
    except ValueError as exc:
        errors["type"] = [str(exc)]
    try:
        query = parse_list_query(request, SPEC)
    except ApiError as exc:
        raise ApiError(400, {**exc.details, **errors}) from None
    if errors:
        raise ApiError(400, errors)
    return to_audit_query(query, types)


def to_audit_query(query: ListQuery, types: tuple[str, ...]) -> AuditQuery:
    """The list machinery's conditions as store bounds (all position bounds are inclusive)."""
    lows: list[int] = [1]
    highs: list[int] = []
    fields: dict[str, Any] = {}
    for cond in query.filters:
        assert isinstance(cond, Cond)
        if cond.column == "position":
            if cond.op == "le":
                highs.append(cond.value)
            else:
                lows.append(cond.value + 1 if cond.op == "gt" else cond.value)
        elif cond.column == "occurred_at":
            fields["occurred_from" if cond.op == "ge" else "occurred_to"] = cond.value
        else:
            fields[cond.column] = cond.value
    return AuditQuery(types=types, low=max(lows), high=min(highs) if highs else None,
                      descending=query.order[0].descending, page=query.page,
                      page_size=query.page_size, **fields)


def audit(request: Request) -> EventAudit:
    return services(request).event_audit


async def index(request: Request) -> Response:
    query = parse_audit_query(request)
    try:
        result = await run_in_threadpool(audit(request).page, query)
    except QueryTooBroadError as exc:
        raise ApiError(400, {"occurred_at": [str(exc)]}) from None
    meta = ListQuery(page=query.page, page_size=query.page_size)
    return paginated(request, result.messages, Page([], result.total), meta,
                     position__lte=result.high)


# --- Server-Sent Events ---------------------------------------------------------------------
class EventStreams:
    """Open streams: each waits on the app's commit wake-ups (entrypoints/http/wakeups.py).
    Other processes' commits are found by one look at the store's newest position a poll
    period, shared by every stream of this process; a stream reads only once the position
    passed what it has read. (Each stream polling the store itself cost about 0.1% of a core
    per idle stream: 400 open streams, 37%.)"""

    def __init__(self, svc: Services, heartbeat: float = HEARTBEAT_SECONDS,
                 poll: float = POLL_SECONDS, wake: Wakeups | None = None) -> None:
        self.store: EdgeStore = svc.store
        self.heartbeat = heartbeat
        self.poll = poll
        self.wake = wake or Wakeups(svc)
        self.looks = 0  # reads of the store's newest position, for every stream together
        self._looked_at = -poll
        self._look: asyncio.Future[None] | None = None  # the look under way, or the last one

    @property
    def open_streams(self) -> int:
        return self.wake.waiting_count()

    async def head(self) -> int:
        """The newest position known committed; the store is asked at most once a poll period,
        by whichever stream comes first, and the others wait for its answer."""
        look, loop = self._look, asyncio.get_running_loop()
        stale = time.monotonic() - self._looked_at >= self.poll
        if look is None or look.get_loop() is not loop or (look.done() and stale):
            self._looked_at = time.monotonic()
            self.looks += 1
            look = self._look = loop.create_task(self._read_head())
        await asyncio.shield(look)  # a stream leaving does not cancel the others' look
        return self.wake.head

    async def _read_head(self) -> None:
        found = await unless_away(
            asyncio.to_thread(self.store.recorder.max_notification_id), None)
        self.wake.seen(found or 0)

    async def frames(self, cursor: int, topics: tuple[str, ...],
                     stopping: asyncio.Event) -> AsyncIterator[bytes]:
        """Events after `cursor` as they commit, with a comment line when idle, until the
        server stops (the stream then ends cleanly: its client resumes with Last-Event-ID)."""
        read_to = -1  # the head this stream has read up to (the cursor stays at its last match)
        with self.wake.waiting() as woken:
            quiet_since = time.monotonic()
            while not stopping.is_set():
                woken.clear()
                head = await self.head()
                messages: list[Message] = []
                if head > read_to:  # commits are visible in position order
                    found = await unless_away(asyncio.to_thread(
                        messages_after, self.store, cursor, topics, STREAM_BATCH), None)
                    if found is not None:  # else the database is away: read again next time
                        (messages, cursor), read_to = found, head
                if messages:
                    yield b"".join(frame(m) for m in messages)
                    quiet_since = time.monotonic()
                    if len(messages) == STREAM_BATCH:
                        read_to = -1  # more may wait behind a full batch
                        continue
                left = self.heartbeat - (time.monotonic() - quiet_since)
                if left <= 0:
                    yield b": heartbeat\n\n"
                    quiet_since, left = time.monotonic(), self.heartbeat
                await first_of(woken, stopping, min(self.poll, left))


def frame(message: Message) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        message.position, message.type.encode(), _encode(message)
    )


def streams(request: Request) -> EventStreams:
    state = request.app.state
    svc = services(request)
    found: EventStreams | None = getattr(state, "event_streams", None)
    if found is None or found.store is not svc.store:
        found = state.event_streams = EventStreams(svc, wake=wakeups(request))
    return found


Position = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Types = Annotated[str, Meta(pattern=r"^[a-z_.]+(,[a-z_.]+)*\Z", examples=["edge.node.registered"])]


class EventStreamQuery(msgspec.Struct, kw_only=True):
    """The stream's query string as the document shows it; `stream_start` reads the values
    itself (the Last-Event-ID header comes first) and accepts only these names."""

    type: Annotated[Types | None, Meta(
        description="Event type; repeat the parameter or separate types with commas")] = None
    last_event_id: Annotated[Position | None, Meta(
        description="Resume strictly after this position (the Last-Event-ID header, when"
        " sent, is used instead)")] = None
    from_position: Annotated[Position | None, Meta(
        description="Start at this position (inclusive)")] = None


STREAM_PARAMS = tuple(f.encode_name for f in msgspec.structs.fields(EventStreamQuery))


def stream_start(request: Request) -> tuple[tuple[str, ...], int | None, str | None]:
    """(types, cursor, resumed): resume after Last-Event-ID, else from from_position, else None
    (now); `resumed` names the parameter of a resume after an event the client received."""
    params = request.query_params
    errors = {n: ["is not a supported parameter"] for n in params if n not in STREAM_PARAMS}
    types: tuple[str, ...] = ()
    try:
        types = select_types(params.getlist("type"))
    except ValueError as exc:
        errors["type"] = [str(exc)]
    cursor, resumed = None, None
    candidates: Iterable[tuple[str, str | None, int]] = (
        ("Last-Event-ID", last_event_id(request), 0),
        ("last_event_id", params.get("last_event_id"), 0),
        ("from_position", params.get("from_position"), -1),
    )
    for name, raw, shift in candidates:
        if raw is None:
            continue
        try:
            value = parse_position(raw.strip())
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        if cursor is None:
            cursor, resumed = max(value + shift, 0), None if shift else name
    if errors:
        raise ApiError(400, errors)
    return types, cursor, resumed


async def stream(request: Request) -> Response:
    types, cursor, resumed = stream_start(request)
    hub = streams(request)
    if cursor is None or resumed is not None:
        head = await run_in_threadpool(hub.store.recorder.max_notification_id) or 0
        if cursor is None:
            cursor = head
        elif cursor > head:  # the log lost what the client saw: silence would hide it
            raise ApiError(409, {resumed: [
                f"is past the end of the event log (position {head}): the events after it"
                " are gone (a database restored from an earlier backup?); start again from"
                " a position at or before the end"]}, f"{resumed} is past the end of the event log")
    return StreamingResponse(
        hub.frames(cursor, topics_of(types), stopping_event(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [
    route("GET", "/api/v1/events", index, Op(
        EVENT, "List stored events", 200, "Event", (400,), listing=SPEC,
        description=EVENTS_DESCRIPTION, list_meta=LIST_META)),
    route("GET", "/api/v1/events/stream", stream, Op(
        EVENT, "Stream events (Server-Sent Events)", 200, None, (400, 409), stream=True,
        query=EventStreamQuery, description=STREAM_DESCRIPTION)),
]
