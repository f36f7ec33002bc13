"""What the Server-Sent Events streams share (a deployment's events, a resource's runtime
logs): cursors (a sequence from 0 to 2^63-1, as text; Last-Event-ID wins over `cursor`), the
heartbeat and poll periods, the response, the follow loop (frames after a cursor as they come, a
comment line when idle, the end when the server stops) and the long poll of their follow=true
pages. They read only when a mark of what they follow moved, and wait to be woken for that
(entrypoints/http/looks.py: one look a poll period for every one of them); what this process
writes, and the read model's moves, wake them at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Annotated, TypeVar

from msgspec import Meta
from starlette.requests import Request
from starlette.responses import StreamingResponse

from domain.shared import ascii_digits
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import first_of, stopping_event
from entrypoints.http.looks import Key, looks
from projections.status import STORE_TROUBLE, is_store_trouble

T = TypeVar("T")
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.25  # a read the database did not answer is tried again this often
FOLLOW_SECONDS = 10.0  # how long a follow=true page waits for what comes next
MAX_SEQUENCE = 2**63 - 1
# A `cursor` query parameter as its schema states it; parse_cursor then bounds it by MAX_SEQUENCE.
Cursor = Annotated[str, Meta(min_length=1, max_length=19, pattern=r"^[0-9]+\Z")]


def parse_cursor(raw: str, name: str) -> int:
    value = int(raw) if ascii_digits(raw) and len(raw) <= 19 else -1
    if not 0 <= value <= MAX_SEQUENCE:
        raise ApiError(400, {name: [f"must be a sequence from 0 to {MAX_SEQUENCE}"]})
    return value


def last_event_id(request: Request) -> str | None:
    """The Last-Event-ID header, stripped; None when absent or blank. Browsers' EventSource
    never sends an empty one, but a proxy may pass one on, and it names no event: a 400 for it
    kept such clients from connecting at all."""
    header = (request.headers.get("last-event-id") or "").strip()
    return header or None


def resumed_at(request: Request, cursor: str | None) -> int | None:
    """Where a client resumes: its Last-Event-ID header, else the `cursor` parameter."""
    header = last_event_id(request)
    if header is not None:
        return parse_cursor(header, "Last-Event-ID")
    return None if cursor is None else parse_cursor(cursor, "cursor")


async def unless_away(read: Awaitable[T], away: T) -> T:
    """A stream's read, or `away` while the database does not answer: an open stream waits
    it out (its heartbeats going on) and resumes at its cursor when it is back, instead of
    breaking off mid-response."""
    try:
        return await read
    except STORE_TROUBLE as exc:
        if not is_store_trouble(exc):
            raise
        return away


def event_stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def followed(request: Request, keys: Sequence[Key], cursor: int,
                   fetch: Callable[[int], Awaitable[Sequence[T]]],
                   frame: Callable[[T], tuple[int, bytes]]) -> AsyncIterator[bytes]:
    """Each item after `cursor` as `fetch` finds it (`frame` gives its sequence and bytes),
    until the server stops; `: heartbeat` every HEARTBEAT_SECONDS of quiet. `fetch` is called
    only when the marks of `keys` moved since it last found nothing more."""
    hub, stopping = looks(request), stopping_event(request)
    read_at: tuple[Hashable, ...] | None = None
    with hub.following(keys) as woken:
        quiet_since = time.monotonic()
        while not stopping.is_set():
            woken.clear()
            marks = hub.marks(keys)
            if marks != read_at:
                batch = await unless_away(fetch(cursor), None)
                if batch:
                    framed = [frame(item) for item in batch]
                    yield b"".join(data for _, data in framed)
                    cursor, quiet_since = framed[-1][0], time.monotonic()
                    continue  # read again: more may follow
                if batch is not None:  # else the database is away: read again next period
                    read_at = marks
            left = HEARTBEAT_SECONDS - (time.monotonic() - quiet_since)
            if left <= 0:
                yield b": heartbeat\n\n"
                quiet_since, left = time.monotonic(), HEARTBEAT_SECONDS
            # Woken when a mark moves; a read the database did not answer is tried again soon.
            await first_of(woken, stopping, left if marks == read_at else min(POLL_SECONDS, left))


async def waited(request: Request, keys: Sequence[Key], fetch: Callable[[], Awaitable[T]],
                 done: Callable[[T], bool]) -> T:
    """The long poll of a follow=true page: what `fetch` reads, once `done` says it is worth
    answering, or FOLLOW_SECONDS pass, or the server stops. `fetch` is called again only
    when the marks of `keys` moved."""
    stopping = stopping_event(request)
    deadline = time.monotonic() + FOLLOW_SECONDS
    hub = looks(request)
    with hub.following(keys) as woken:
        marks = hub.marks(keys)
        found = await fetch()
        while True:
            left = deadline - time.monotonic()
            if done(found) or left <= 0 or stopping.is_set():
                return found
            await first_of(woken, stopping, left)
            woken.clear()
            read_at, marks = marks, hub.marks(keys)
            if marks != read_at:
                found = await fetch()
