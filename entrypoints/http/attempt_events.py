"""Watching a deployment attempt as it happens: GET /deployments/{id}/events (a page of
`deployments.stream-events/v1` envelopes, optionally waiting for the next) and
.../events/stream (the same envelopes as Server-Sent Events, resumable by cursor).

Both read the attempt's timeline (projections/resource_reads.py `timeline`: each lifecycle
event of its Deployment with its sequence number), never the store or NATS. A cursor is the
sequence of the last event seen, as text; the next page starts after it. They read again only
once the read model moved (the projector's position: at once when it moves in this process,
whoever committed), shared with every other follower (entrypoints/http/looks.py). A stop of
the server ends every wait at once (inputs.stopping_event).

The stream also sends the agent's progress lines while it starts the container (`event:
progress` frames without an `id:`): they are telemetry, not events, so they move no cursor of
the client's; a line this process records wakes the stream, one another process records is
seen by the shared look within its poll period. The stream follows them by the number the
store gives each line as it records it, not by their time: a line stamped by an admin whose
clock is behind (or stamped before another admin's line but committed after it) still comes,
once. A resumed stream sends again the lines recorded after the event it resumes from (by
their time: the client's cursor is the event's).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from application.deployment_attempts import CreateDeployment
from domain.deployment import deployment_uuid
from domain.deployment_attempt import RETRYABLE, TERMINAL, AttemptStatus
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Query,
    answer,
    found,
    perform,
    read_query,
    run,
)
from entrypoints.http.attempt_views import PHASES, Phase, failure_phase
from entrypoints.http.inputs import first_of, path_uuid, services, stopping_event
from entrypoints.http.looks import READ_MODEL, Key, Looks, looks, progress
from entrypoints.http.openapi.appaloft import DEPLOYMENT, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from entrypoints.http.sse import (
    HEARTBEAT_SECONDS,
    POLL_SECONDS,
    Cursor,
    event_stream,
    parse_cursor,
    resumed_at,
    unless_away,
    waited,
)
from projections.resource_reads import ProgressLine, TimelineEntry, timeline
from projections.resource_tables import AttemptRecord

_d = described
SCHEMA: Literal["deployments.stream-events/v1"] = "deployments.stream-events/v1"
EventType = Literal["deployment-requested", "deployment-placed", "deployment-ready",
                    "deployment-failed", "deployment-stop-deferred",
                    "deployment-stop-requested", "deployment-terminated"]
EVENT_TYPES: dict[str, EventType] = {
    "Requested": "deployment-requested", "Placed": "deployment-placed",
    "Ready": "deployment-ready", "Failed": "deployment-failed",
    "StopDeferred": "deployment-stop-deferred", "StopRequested": "deployment-stop-requested",
    "Terminated": "deployment-terminated"}
_encode = msgspec.json.Encoder().encode


class EventsQuery(Query):
    cursor: Annotated[Cursor, _d(
        "Resume after this event: the `cursor` of the last envelope seen (its sequence)."
        " Omitted: from the first event, or from now when includeHistory is false")] | None = None
    history_limit: Annotated[int, Meta(ge=0, le=200, description=(
        "At most this many events already recorded, oldest first (0 to 200, default 100;"
        " 0: none, only what comes next)"))] = 100
    include_history: Annotated[bool, _d("Without a cursor: start from the first event"
                                        " (default true) or from now")] = True
    follow: Annotated[bool, _d("When the page is empty, wait up to 10 s for the next"
                               " events (default false)")] = False
    until_terminal: Annotated[bool, _d("Stop waiting once the attempt is terminal (succeeded,"
                                       " failed, canceled, rolled-back)")] = False


class StreamQuery(EventsQuery):
    follow: Annotated[bool, _d("Keep the stream open for the next events (default true);"
                               " false: send the page and end")] = True
    include_progress: Annotated[bool, _d(
        "Also send the agent's progress lines while it starts the container (the pull, the"
        " start, its health probes) as `event: progress` frames without an id (default"
        " true)")] = True


class DeploymentEvent(AppaloftShape):
    deployment_id: UUID
    sequence: Annotated[int, Meta(ge=1, description="Position in the Deployment's event"
                                                    " stream, from 1 (gaps are other events)")]
    cursor: Annotated[str, _d("Resume after this event with it (its sequence, as text)")]
    emitted_at: Moment
    source: Literal["domain-event"]
    event_type: EventType
    phase: Annotated[Phase, _d(PHASES)]
    status: Annotated[AttemptStatus, _d("The attempt status right after it")]
    retriable: Annotated[bool, _d("The attempt can be retried now (failed or canceled)")]
    summary: str


class EventEnvelope(AppaloftShape):
    schema_version: Literal["deployments.stream-events/v1"]
    kind: Literal["event"]
    event: DeploymentEvent


class DeploymentEventsResponse(AppaloftShape):
    """The attempt's lifecycle events after the cursor, oldest first"""

    deployment_id: UUID
    envelopes: list[EventEnvelope]
    next_cursor: Annotated[str, _d("Where the next page starts: the last envelope's cursor,"
                                   " or the start of this one when it is empty")]


SHAPES = (DeploymentEventsResponse,)


def _phase(entry: TimelineEntry, attempt: AttemptRecord, checked: bool) -> Phase:
    if entry.event_type == "Requested":
        return "plan"
    if entry.event_type == "Placed":
        return "pull"
    if entry.event_type == "Ready":
        return "health" if checked else "start"
    if entry.event_type == "Failed":
        return failure_phase(attempt)
    return "stop"


def _summary(entry: TimelineEntry, attempt: AttemptRecord, image: str, checked: bool) -> str:
    return {
        "Requested": f"requested ({attempt.trigger_kind}): run {image}",
        "Placed": f"placed on server {attempt.server_id}; its agent pulls {image}",
        "Ready": "container started; health check passed" if checked else "container started",
        "Failed": attempt.error_detail or "failed",
        "StopDeferred": "stop asked before its node started it",
        "StopRequested": "stop requested",
        "Terminated": "container stopped",
    }[entry.event_type]


def envelopes(attempt: AttemptRecord, entries: list[TimelineEntry]) -> list[EventEnvelope]:
    snapshot = json.loads(attempt.snapshot)
    checked = bool(snapshot["health"].get("enabled"))
    return [EventEnvelope(schema_version=SCHEMA, kind="event", event=DeploymentEvent(
        deployment_id=attempt.id, sequence=e.sequence, cursor=str(e.sequence),
        emitted_at=e.at, source="domain-event", event_type=EVENT_TYPES[e.event_type],
        phase=_phase(e, attempt, checked), status=e.status,
        retriable=attempt.status in RETRYABLE and e.status in RETRYABLE,
        summary=_summary(e, attempt, snapshot["image"], checked))) for e in entries]


@dataclass(frozen=True)
class Seen:
    """The attempt as read now and its events after a cursor."""

    attempt: AttemptRecord
    after: list[TimelineEntry]

    @property
    def terminal(self) -> bool:
        return self.attempt.status in TERMINAL


def read_after(svc: Services, deployment_id: UUID, cursor: int) -> Seen:
    attempt = found(svc.resource_reads.attempts.get(deployment_id), "deployment", deployment_id)
    return Seen(attempt, [e for e in timeline(attempt) if e.sequence > cursor])


async def start_of(svc: Services, deployment_id: UUID, query: EventsQuery,
                   resumed: int | None) -> tuple[int, AttemptRecord]:
    """Where the page starts: the cursor; else the first event, or the latest one when the
    history is not wanted (includeHistory=false or historyLimit=0). And the attempt."""
    seen = await run(read_after, svc, deployment_id, 0)  # 404 for an unknown attempt
    latest = max((e.sequence for e in seen.after), default=0)
    if resumed is None:
        resumed = 0 if query.include_history else latest
    return max(resumed, latest) if query.history_limit == 0 else resumed, seen.attempt


# --- GET /deployments/{id}/events ----------------------------------------------------------
async def _follow(request: Request, deployment_id: UUID, cursor: int,
                  until_terminal: bool) -> Seen:
    """The attempt's events after `cursor` once there are some, or it is terminal and
    until_terminal (sse.waited)."""
    svc = services(request)
    return await waited(request, [READ_MODEL], lambda: run(read_after, svc, deployment_id, cursor),
                        lambda seen: bool(seen.after) or (until_terminal and seen.terminal))


async def events(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    query = read_query(request, EventsQuery)
    resumed = None if query.cursor is None else parse_cursor(query.cursor, "cursor")
    start, _ = await start_of(services(request), deployment_id, query, resumed)
    seen = await run(read_after, services(request), deployment_id, start)
    page = seen.after[:query.history_limit]
    if not page and query.follow and not (query.until_terminal and seen.terminal):
        seen = await _follow(request, deployment_id, start, query.until_terminal)
        page = seen.after  # what came while it waited: at most the 7 lifecycle events
    found_ = envelopes(seen.attempt, page)
    return answer(DeploymentEventsResponse(
        deployment_id=deployment_id, envelopes=found_,
        next_cursor=found_[-1].event.cursor if found_ else str(start)))


# --- GET /deployments/{id}/events/stream ----------------------------------------------------
def frame(envelope: EventEnvelope) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (envelope.event.sequence, _encode(envelope))


def progress_frame(attempt: AttemptRecord, line: ProgressLine) -> bytes:
    body = {"schemaVersion": SCHEMA, "kind": "progress", "progress": {
        "deploymentId": str(attempt.id), "emittedAt": line.at,
        "source": "edge-agent", "phase": line.phase, "level": line.level,
        "message": line.message}}
    return b"event: progress\ndata: %s\n\n" % _encode(body)


def progress_after(svc: Services, attempt: AttemptRecord, after: int, since: datetime | None
                   ) -> tuple[list[ProgressLine], int]:
    """The attempt's progress lines after the one numbered `after`, of those only the ones
    recorded after `since` (where a resumed stream starts), and the last one's number."""
    lines = svc.resource_reads.progress(attempt.request_id, after)
    last = lines[-1].sequence if lines else after
    return [p for p in lines if since is None or p.at > since], last


def _merged(seen: Seen, batch: list[TimelineEntry], lines: list[ProgressLine]) -> bytes:
    """The batch's event frames and the progress lines between them, in time order."""
    timed = [(e.at, frame(x)) for e, x in zip(batch, envelopes(seen.attempt, batch),
                                               strict=True)]
    timed += [(p.at, progress_frame(seen.attempt, p)) for p in lines]
    timed.sort(key=lambda pair: pair[0])  # stable: an event before a line of its instant
    return b"".join(data for _, data in timed)


def end_frame(seen: Seen, cursor: int) -> bytes:
    body = {"schemaVersion": SCHEMA, "kind": "end", "deploymentId": str(seen.attempt.id),
            "status": seen.attempt.status.value, "cursor": str(cursor)}
    return b"event: end\ndata: %s\n\n" % _encode(body)


@dataclass(frozen=True)
class Watch:
    svc: Services
    hub: Looks
    stopping: asyncio.Event
    deployment_id: UUID
    request_id: str
    query: StreamQuery

    @property
    def keys(self) -> list[Key]:
        """What it reads: the read model, and the agent's progress lines if wanted."""
        return [READ_MODEL, *([progress(self.request_id)] if self.query.include_progress
                              else [])]


async def frames(watch: Watch, cursor: int) -> AsyncIterator[bytes]:
    """The page after `cursor`, then (follow) each event as it is recorded; a comment line
    when idle; `event: end` once the attempt is terminal (untilTerminal). Progress lines
    come between them: first those recorded after the event at `cursor`, then each line as
    it is recorded."""
    limit = watch.query.history_limit
    since: datetime | None = None  # where the first read of progress lines starts
    lines_read = 0  # the number of the last progress line read (sent, or before `since`)
    first = True
    read_at: tuple[Hashable, ...] | None = None  # the marks when a read found all there was
    with watch.hub.following(watch.keys) as woken:
        quiet_since = time.monotonic()
        while True:
            woken.clear()
            marks = watch.hub.marks(watch.keys)
            seen = None
            if marks != read_at:  # else nothing it reads moved since: no read
                seen = await unless_away(
                    run(read_after, watch.svc, watch.deployment_id, cursor), None)
            lines: list[ProgressLine] | None = []
            if seen is not None and watch.query.include_progress:
                if first:
                    since, first = _at_or_before(seen.attempt, cursor), False
                read = await unless_away(
                    run(progress_after, watch.svc, seen.attempt, lines_read, since), None)
                if read is None:
                    lines = None
                else:  # the next lines come whatever their time
                    (lines, lines_read), since = read, None
            if seen is not None:
                batch = seen.after[:limit] if limit else seen.after
                limit = 0  # only the first page is bounded; what follows comes as recorded
                if batch or lines:
                    yield _merged(seen, batch, lines or [])
                    quiet_since = time.monotonic()
                    cursor = batch[-1].sequence if batch else cursor
                if not watch.query.follow or watch.stopping.is_set():
                    return
                if len(batch) < len(seen.after):
                    continue
                if watch.query.until_terminal and seen.terminal:
                    yield end_frame(seen, cursor)
                    return
                if lines is not None:  # else the database went away before the lines
                    read_at = marks
            elif watch.stopping.is_set():
                return
            left = HEARTBEAT_SECONDS - (time.monotonic() - quiet_since)
            if left <= 0:
                yield b": heartbeat\n\n"
                quiet_since, left = time.monotonic(), HEARTBEAT_SECONDS
            if marks != read_at:  # the database did not answer: try again soon
                left = min(POLL_SECONDS, left)
            await first_of(woken, watch.stopping, left)  # else woken when a mark moves


def _at_or_before(attempt: AttemptRecord, cursor: int) -> datetime | None:
    """When the event at `cursor` (or the last one before it) was recorded; None: before
    the first."""
    return max((e.at for e in timeline(attempt) if e.sequence <= cursor), default=None)


async def stream(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    query = read_query(request, StreamQuery)
    resumed = resumed_at(request, query.cursor)
    svc = services(request)
    start, attempt = await start_of(svc, deployment_id, query, resumed)
    if query.history_limit == 0:
        query = msgspec.structs.replace(query, history_limit=200)  # start_of skipped history
    watch = Watch(svc, looks(request), stopping_event(request), deployment_id,
                  attempt.request_id, query)
    return event_stream(frames(watch, start))


# --- POST /deployments/stream ----------------------------------------------------------------
class CreateStreamQuery(Query):
    follow: Annotated[bool, _d("Keep the stream open for the next events (default true);"
                               " false: send what is recorded and end")] = True
    until_terminal: Annotated[bool, _d("End with `event: end` once the attempt is terminal"
                                       " (default true)")] = True


async def create_stream(request: Request) -> Response:
    """Creates an attempt as POST /deployments does, then streams its events from the first,
    as .../events/stream does; `Location` names the new deployment."""
    query = read_query(request, CreateStreamQuery)  # a bad query creates nothing
    svc = services(request)
    accepted = await perform(request, svc.deployment_attempts.create, body=CreateDeployment)
    deployment_id = deployment_uuid(accepted.request_id)
    watch = Watch(svc, looks(request), stopping_event(request), deployment_id,
                  accepted.request_id, StreamQuery(history_limit=200, follow=query.follow,
                                                   until_terminal=query.until_terminal))
    response = event_stream(frames(watch, 0))
    response.headers["Location"] = f"/deployments/{deployment_id}"
    return response


ROUTES = [
    route("POST", "/deployments/stream", create_stream, appaloft_op(
        DEPLOYMENT, "Create a deployment and stream its events (Server-Sent Events)", 200, None,
        (400, 404, 409, 422, 503), body=CreateDeployment, query=CreateStreamQuery, stream=True,
        description="Creates the attempt as POST /deployments does (its errors answer before any"
        " stream: 404, 409 for a locked environment or an attempt in progress, 422), then sends"
        " its events from the first in the frames of /deployments/{deploymentId}/events/stream;"
        " `Location` names the new deployment. untilTerminal (default true) ends it with"
        " `event: end` once the attempt is terminal; a stopping server ends it.")),
    route("GET", "/deployments/{deploymentId}/events", events, appaloft_op(
        DEPLOYMENT, "Read a deployment's events", 200, "DeploymentEvents", (400, 404),
        query=EventsQuery,
        description="`deployments.stream-events/v1` envelopes of its lifecycle events after"
        " `cursor` (the sequence of the last one seen), oldest first; `nextCursor` resumes."
        " With follow=true an empty page waits up to 10 s for the next events (untilTerminal:"
        " not once the attempt is terminal). 400 for a cursor that is not a sequence from 0"
        " to 2^63-1 or a historyLimit out of 0..200.")),
    route("GET", "/deployments/{deploymentId}/events/stream", stream, appaloft_op(
        DEPLOYMENT, "Stream a deployment's events (Server-Sent Events)", 200, None, (400, 404),
        query=StreamQuery, stream=True,
        description="The same envelopes as text/event-stream: `id: <sequence>`, `data:"
        " <envelope JSON>`, a `: heartbeat` comment every 15 s when idle. Resumes after"
        " Last-Event-ID (or `cursor`). follow=false sends the page and ends; untilTerminal ends"
        " with `event: end` (data: {kind: end, status, cursor}) once the attempt is terminal;"
        " a stopping server ends it. Between the events, the agent's progress lines while it"
        " starts the container come as `event: progress` frames without an id (data: {kind:"
        " progress, progress: {deploymentId, emittedAt, source, phase, level, message}};"
        " includeProgress=false leaves them out); a resumed stream sends again those after"
        " the event it resumes from.")),
]
