"""Appaloft's resource health: `GET /resources/{resourceId}/health` (`resources.health/v1`) and
`GET /resources/{resourceId}/health-history` (`resources.health-history/v1`).

The current deployment is the attempt that last became healthy (the resource's serving one);
its health is derived (domain/resource_health.py) from its Deployment's state and the agent's
latest observation of it. `mode=live` asks that agent to probe now, in its next work answer,
and waits a bounded time for the answer: one that does not come leaves the cached answer with
a `live-probe-timeout` source error. The shapes are built in resource_health_views.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    Instant,
    Query,
    answer,
    generated_at,
    instant,
    read_query,
    run,
)
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import RESOURCE, appaloft_op
from entrypoints.http.resource_health_views import (
    Current,
    HistoryObservation,
    ResourceHealthHistoryResponse,
    SourceError,
    current_of,
    observation_item,
    summary,
)
from entrypoints.http.routing import route

_ID = "resourceId"
POLL = 0.1  # seconds between looks for a live probe's answer (any admin process may take it)
MAX_LIMIT = 720
DEFAULT_WINDOW = timedelta(hours=24)
Flag = Annotated[bool, Meta(description="true or false")]


class HealthQuery(Query):
    mode: Annotated[Literal["cached", "live"], Meta(
        description="cached (default): the agent's last report; live: the agent probes now")
    ] = "cached"
    include_checks: Flag = False
    include_public_access_probe: Flag = False
    include_runtime_probe: Annotated[bool, Meta(description="true is mode=live")] = False
    timeout_seconds: Annotated[float, Meta(
        ge=0.1, le=30, description="How long mode=live waits for the agent (default 10)")] = 10


class HistoryQuery(Query):
    window_from: Annotated[Instant | None, Meta(
        description="Start (UTC, ending in Z); default 24 hours before window.to")] = \
        msgspec.field(default=None, name="window.from")
    window_to: Annotated[Instant | None, Meta(description="End (UTC, ending in Z); default"
                                              " now")] = msgspec.field(default=None,
                                                                       name="window.to")
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="At most this many, the"
                               " newest in the window (1 to 720, default 200)")] = 200


def _window_before(end: datetime) -> datetime:
    """The default window's start; from the first instant for an end within it of year 1
    (0001-01-01T00:00:00Z - 24 h overflowed into a 500)."""
    try:
        return end - DEFAULT_WINDOW
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


async def show(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    query = read_query(request, HealthQuery)
    svc = services(request)
    current = await run(current_of, svc.resource_reads, svc.deployment_reads,
                        svc.resource_health_reads, resource_id)
    errors: list[SourceError] = []
    if query.mode == "live" or query.include_runtime_probe:
        current, errors = await _live(request, current, query.timeout_seconds)
    return answer(summary(current, generated_at(request), query.include_checks, errors))


async def _live(request: Request, current: Current, timeout: float
                ) -> tuple[Current, list[SourceError]]:
    """The current deployment's agent probes it now; its answer replaces the last report."""
    target = current.probe_target()
    if target is None:
        return current, [SourceError(
            source="runtime", code="no-running-deployment", category="state",
            phase="runtime-probe", retriable=False, related_entity_id=current.resource_id,
            related_state=current.state(), message="nothing of this resource runs to probe")]
    svc = services(request)
    probe_id = await run(svc.resource_health.ask, current.resource_id, *target)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await run(svc.resource_health_reads.answer, probe_id)
        if found is not None:
            return current.with_observation(found), []
        await asyncio.sleep(POLL)
    attempt = current.serving
    assert attempt is not None  # a probe target has one
    return current, [SourceError(
        source="runtime", code="live-probe-timeout", category="timeout",
        phase="runtime-probe", retriable=True, related_entity_id=attempt.id,
        related_state="running",
        message=f"the agent of server {target[1]} did not answer within {timeout:g}s;"
        " this is its last report")]


async def history(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    query = read_query(request, HistoryQuery)
    now = generated_at(request)
    end = instant(query.window_to, "window.to") or now
    start = instant(query.window_from, "window.from") or _window_before(end)
    if start > end:
        raise ApiError(400, {"window.from": ["is after window.to"]})
    svc = services(request)
    items = await run(_history, svc, resource_id, (start, end), query.limit, now)
    return answer(ResourceHealthHistoryResponse(
        schema_version="resources.health-history/v1", resource_id=resource_id, from_=start,
        to=end, generated_at=now, observations=items, source_errors=[]))


def _history(svc: Services, resource_id: UUID, window: tuple[datetime, datetime], limit: int,
             now: datetime) -> list[HistoryObservation]:
    current = current_of(svc.resource_reads, svc.deployment_reads, svc.resource_health_reads,
                         resource_id)
    rows = svc.resource_health_reads.window(resource_id, *window, limit)
    attempts = {d: svc.resource_reads.attempts.get(d) for d in {r.deployment_id for r in rows}}
    return [observation_item(current, row, attempts[row.deployment_id], now) for row in rows]


ROUTES = [
    route("GET", "/resources/{resourceId}/health", show, appaloft_op(
        RESOURCE, "Read a resource's health", 200, "ResourceHealth", (400, 404), query=HealthQuery,
        description="Of its current deployment (the one that last became healthy). cached:"
        " from its agent's last report; live (or includeRuntimeProbe=true): its agent probes"
        " it now, within timeoutSeconds, else the cached answer with a live-probe-timeout"
        " source error. overall: not-deployed, stopped, unhealthy (its container exited, or"
        " its check fails), healthy, or unknown (no health policy, or no report for three"
        " heartbeats).")),
    route("GET", "/resources/{resourceId}/health-history", history, appaloft_op(
        RESOURCE, "Read a resource's retained health observations", 200, "ResourceHealthHistory",
        (400, 404), query=HistoryQuery,
        description="The agent's observations (changes, heartbeats, live probes, the"
        " container's end) in [window.from, window.to], the newest `limit`, oldest first."
        " 400 when a bound is not a UTC date-time ending in Z, or window.from is after"
        " window.to.")),
]
