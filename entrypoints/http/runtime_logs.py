"""Appaloft's runtime logs of a resource: GET /resources/{id}/runtime-logs (the lines its
deployment's container wrote while it ran, shipped by the agent: application/runtime_logs.py)
and .../runtime-logs/stream (the same entries as Server-Sent Events, followed as they come).

The deployment is `deploymentId`, else the one serving, else the latest. Each entry has its
sequence in that deployment's lines (from 1) and a cursor (the sequence as text); `cursor`
resumes after one, else the page is the last `tailLines`. Secret values are masked when the
lines are stored (`masked` says where).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import AppaloftShape, Query, answer, found, read_query, run
from entrypoints.http.attempt_views import in_focus
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.looks import logs as logs_of
from entrypoints.http.openapi.appaloft import RESOURCE, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from entrypoints.http.sse import (
    Cursor,
    event_stream,
    followed,
    parse_cursor,
    resumed_at,
    waited,
)
from projections.resource_tables import ResourceRecord

_d = described
_encode = msgspec.json.Encoder().encode


class RuntimeLogsQuery(Query):
    deployment_id: Annotated[UUID | None, _d(
        "A deployment of this resource (default: the one serving, else the latest)")] = None
    service_name: Annotated[str, Meta(min_length=1, max_length=128, description=(
        "Only this service's lines: a resource runs one, named after its slug"))] | None = None
    tail_lines: Annotated[int, Meta(ge=0, le=1000, description=(
        "At most this many lines: the last ones, or the first after `cursor` (default"
        " 100)"))] = 100
    since: Annotated[datetime, Meta(tz=True, description=(
        "Only lines written at or after this time (RFC 3339 with a zone)"))] | None = None
    cursor: Annotated[Cursor, _d(
        "Resume after this line: the `cursor` of the last entry seen")] | None = None
    follow: Annotated[bool, _d("With no line to answer, wait up to 10 s for the next")] = False


class RuntimeLogStreamQuery(RuntimeLogsQuery):
    follow: Annotated[bool, _d("Keep the stream open for the next lines (default true);"
                               " false: send the page and end")] = True


class RuntimeLogEntry(AppaloftShape):
    resource_id: UUID
    deployment_id: UUID
    service_name: Annotated[str, _d("The resource's slug")]
    runtime_kind: Annotated[Literal["container"], _d("What ran it")]
    runtime_instance_id: Annotated[str, _d("The container's name on its node")]
    stream: Literal["stdout", "stderr"]
    timestamp: Annotated[Moment, _d("When the container wrote it (as its engine saw it)")]
    sequence: Annotated[int, Meta(ge=1, description="Position in the deployment's lines")]
    cursor: Annotated[str, _d("Resume after this line with it (its sequence, as text)")]
    message: str
    masked: Annotated[bool, _d("A secret value in it was replaced by ****")]


class RuntimeLogsResponse(AppaloftShape):
    """Lines a resource's container wrote, oldest first"""

    resource_id: UUID
    deployment_id: Annotated[UUID | None, _d("null: the resource was never deployed")]
    logs: list[RuntimeLogEntry]


SHAPES = (RuntimeLogsResponse, RuntimeLogEntry)


class Target(msgspec.Struct, frozen=True):
    resource: ResourceRecord
    deployment_id: UUID | None
    request_id: str | None


def target(svc: Services, resource_id: UUID, deployment_id: UUID | None) -> Target:
    resource = found(svc.resource_reads.resources.get(resource_id), "resource", resource_id)
    attempt = in_focus(svc, resource, deployment_id)
    if attempt is None:
        return Target(resource, None, None)
    return Target(resource, attempt.id, attempt.request_id)


def entries(where: Target, rows: Sequence[dict[str, Any]]) -> list[RuntimeLogEntry]:
    assert where.deployment_id is not None
    return [RuntimeLogEntry(
        resource_id=where.resource.id, deployment_id=where.deployment_id,
        service_name=where.resource.slug, runtime_kind="container",
        runtime_instance_id=f"edge-{where.request_id}", stream=row["stream"],
        timestamp=row["timestamp"], sequence=row["sequence"], cursor=str(row["sequence"]),
        message=row["message"], masked=bool(row["masked"])) for row in rows]


def read_lines(svc: Services, where: Target, query: RuntimeLogsQuery, after: int | None,
               limit: int) -> list[RuntimeLogEntry]:
    if where.request_id is None or query.service_name not in (None, where.resource.slug):
        return []
    return entries(where, svc.runtime_logs.read(where.request_id, after, limit, query.since))


def _last_sequence(svc: Services, where: Target, query: RuntimeLogsQuery) -> int:
    """The newest line's sequence (0: none yet): where following starts when no cursor says."""
    latest = read_lines(svc, where, query, None, 1)
    return latest[-1].sequence if latest else 0


async def index(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")
    query = read_query(request, RuntimeLogsQuery)
    after = None if query.cursor is None else parse_cursor(query.cursor, "cursor")
    svc = services(request)
    where = await run(target, svc, resource_id, query.deployment_id)
    logs = await run(read_lines, svc, where, query, after, query.tail_lines)
    if not logs and query.follow and query.tail_lines and where.request_id is not None:
        logs = await _follow(request, where, query, after)
    return answer(RuntimeLogsResponse(resource_id=resource_id,
                                      deployment_id=where.deployment_id, logs=logs))


async def _follow(request: Request, where: Target, query: RuntimeLogsQuery,
                  after: int | None) -> list[RuntimeLogEntry]:
    """The next lines after `after` (or after the last one now), once there are some
    (sse.waited)."""
    svc = services(request)
    start = await run(_last_sequence, svc, where, query) if after is None else after
    assert where.request_id is not None
    return await waited(
        request, [logs_of(where.request_id)],
        lambda: run(read_lines, svc, where, query, start, query.tail_lines), bool)


def frame(entry: RuntimeLogEntry) -> tuple[int, bytes]:
    return entry.sequence, b"id: %d\ndata: %s\n\n" % (entry.sequence, _encode(entry))


async def stream(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")
    query = read_query(request, RuntimeLogStreamQuery)
    resumed = resumed_at(request, query.cursor)
    svc = services(request)
    where = await run(target, svc, resource_id, query.deployment_id)
    page = await run(read_lines, svc, where, query, resumed, query.tail_lines)
    if resumed is None and not page:
        resumed = await run(_last_sequence, svc, where, query)

    async def fetch(cursor: int) -> list[RuntimeLogEntry]:
        return await run(read_lines, svc, where, query, cursor, 1000)

    async def frames() -> Any:
        start = resumed or 0
        if page:
            yield b"".join(frame(e)[1] for e in page)
            start = page[-1].sequence
        if query.follow:
            keys = [] if where.request_id is None else [logs_of(where.request_id)]
            async for chunk in followed(request, keys, start, fetch, frame):
                yield chunk

    return event_stream(frames())


ROUTES = [
    route("GET", "/resources/{resourceId}/runtime-logs", index, appaloft_op(
        RESOURCE, "Read a resource's runtime logs", 200, "RuntimeLogs", (400, 404),
        query=RuntimeLogsQuery,
        description="The lines its deployment's container wrote while it ran (stdout and"
        " stderr), as its agent ships them every 2 s, oldest first: the last tailLines, or"
        " the first tailLines after `cursor`. The deployment is deploymentId (404 unless it"
        " is this resource's), else the one serving, else the latest. Each deployment keeps"
        " its last 1000 lines. Secret values are replaced by **** (masked: true). follow=true:"
        " with no line to answer, waits up to 10 s for the next. 400 for a cursor that is not"
        " a sequence from 0 to 2^63-1, tailLines out of 0..1000, or a since that is not an"
        " RFC 3339 time with a zone.")),
    route("GET", "/resources/{resourceId}/runtime-logs/stream", stream, appaloft_op(
        RESOURCE, "Stream a resource's runtime logs (Server-Sent Events)", 200, None, (400, 404),
        query=RuntimeLogStreamQuery, stream=True,
        description="The same entries as text/event-stream: `id: <sequence>`, `data: <entry"
        " JSON>`, then each new line as the agent ships it; a `: heartbeat` comment every 15 s"
        " when idle. Resumes after Last-Event-ID (or `cursor`); else starts with the last"
        " tailLines. follow=false sends the page and ends; a stopping server ends it.")),
]
