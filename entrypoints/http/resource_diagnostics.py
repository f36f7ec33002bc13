"""Appaloft's `GET /resources/{resourceId}/diagnostic-summary` (`resources.diagnostic-summary/v1`):
one support-safe answer to "what is wrong with this resource", composed from the reads that
already answer its parts: the resource and the attempt in focus (`deploymentId`, else the serving
one, else the latest; runtime-logs' rule), the resource's health (the serving attempt's), the
tail of the attempt's deployment log and of its container's runtime log, and the failure.

No secret is in it: variables are not shown, runtime log lines were masked when they were
stored, and the deployment log holds no variable. What this service does not have (access routes
and a proxy, builds, destinations) is null, as in the other Appaloft reads; so is `copy` (the
answer itself is the copyable JSON).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from domain.deployment_attempt import AttemptStatus
from entrypoints.bootstrap import Services
from entrypoints.http import attempt_logs
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Instant,
    Query,
    answer,
    generated_at,
    instant,
    read_query,
    run,
)
from entrypoints.http.attempt_views import failure_phase, in_focus, lines_of
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import RESOURCE, appaloft_op
from entrypoints.http.resource_health_views import current_of
from entrypoints.http.resource_profile_views import NetworkProfileView, network_view
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from entrypoints.settings import database_kind
from projections.resource_tables import AttemptRecord

_d = described
_ID = "resourceId"
MAX_TAIL = 50
Flag = Annotated[bool, Meta(description="true or false")]
_NotHere = _d("No builds, destinations or providers here: null")


class DiagnosticQuery(Query):
    deployment_id: Annotated[UUID | None, Meta(
        description="The attempt to look at (default: the serving one, else the latest)")] = None
    observation_from: Annotated[Instant | None, Meta(
        description="Log lines from then on (UTC, ending in Z)")] = None
    observation_to: Annotated[Instant | None, Meta(
        description="Log lines until then (UTC, ending in Z)")] = None
    include_deployment_log_tail: Flag = True
    include_runtime_log_tail: Flag = True
    include_proxy_configuration: Annotated[bool, Meta(
        description="Accepted; there is no proxy here")] = False
    tail_lines: Annotated[int, Meta(ge=0, le=MAX_TAIL, description="Lines of each log tail"
                                    f" (0 to {MAX_TAIL}, default 20)")] = 20
    locale: Annotated[str, Meta(min_length=1, max_length=35,
                                description="Echoed in system.locale")] | None = None


class Focus(AppaloftShape):
    resource_id: UUID
    requested_deployment_id: UUID | None
    deployment_id: Annotated[UUID | None, _d("The attempt looked at; null: none yet")]


class ServiceView(AppaloftShape):
    name: Annotated[str, _d("The resource's slug")]
    kind: Literal["web"]


class Window(AppaloftShape):
    from_: Annotated[Moment | None, _d("observationFrom")] = msgspec.field(name="from")
    to: Annotated[Moment | None, _d("observationTo")]


class DiagnosticContext(AppaloftShape):
    project_id: UUID
    environment_id: UUID
    resource_name: str
    resource_slug: str
    resource_kind: str
    destination_id: Annotated[None, _NotHere]
    server_id: Annotated[UUID | None, _d("The node of the attempt looked at")]
    runtime_strategy: Literal["docker-container"]
    build_strategy: Annotated[None, _NotHere]
    packaging_mode: Annotated[None, _NotHere]
    target_kind: Literal["single-server"]
    target_provider_key: Annotated[None, _NotHere]
    services: list[ServiceView]
    network_profile: NetworkProfileView
    observation_window: Window


class LastError(AppaloftShape):
    timestamp: Moment | None
    phase: Annotated[str, _d("plan, pull, start or health")]
    message: str


class DiagnosticDeployment(AppaloftShape):
    id: UUID
    status: AttemptStatus
    lifecycle_phase: Annotated[AttemptStatus, _d("The status again")]
    runtime_plan_id: Annotated[UUID, _d("The attempt's own: its plan is its snapshot")]
    source_kind: Literal["docker-image"]
    source_display_name: Annotated[str | None, _d("The image it runs")]
    server_id: UUID | None
    destination_id: Annotated[None, _NotHere]
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None
    log_count: Annotated[int, _d("Lines of its deployment log (as the deployment's"
                                  " logCount: the whole log, not only the window's)")]
    last_error: LastError | None


class DiagnosticHealth(AppaloftShape):
    """Ours (the seed has no such section): GET /resources/{id}/health's summary"""

    overall: Annotated[str, _d("healthy, unhealthy, unknown, not-deployed or stopped")]
    runtime_lifecycle: str
    runtime_health: str
    observed_at: Moment | None
    reason_code: str
    message: str


class LogLine(AppaloftShape):
    timestamp: Moment
    source: Annotated[str, _d("edge-admin, edge-agent or container")]
    phase: Annotated[str | None, _d("The deployment log's phase; null for runtime lines")]
    level: Annotated[str | None, _d("info or error; null for runtime lines")]
    stream: Annotated[str | None, _d("stdout or stderr for runtime lines, else null")]
    service_name: str
    message: str
    masked: bool


class LogTail(AppaloftShape):
    status: Annotated[Literal["available", "not-requested", "unavailable"], _d(
        "unavailable: no attempt to read it from")]
    tail_limit: int
    line_count: Annotated[int, _d("Lines shown")]
    lines: list[LogLine]
    reason_code: Annotated[str | None, _d("no-deployment when unavailable")]
    phase: None


class DiagnosticSystem(AppaloftShape):
    entrypoint: Literal["http"]
    request_id: Annotated[str | None, _d("This request's X-Request-ID")]
    locale: str | None
    readiness_status: Annotated[None, _d("See GET /readyz: null")]
    database_driver: Annotated[str, _d("postgres, sqlite or memory")]
    database_mode: None


class DiagnosticSourceError(AppaloftShape):
    source: Literal["deployment", "runtime"]
    code: Annotated[str, _d("no-deployment, deployment-failed, or the health's reason code"
                            " (health-check-failed, runtime-exited, health-report-stale...)")]
    category: Literal["not-found", "failed", "unhealthy"]
    phase: str | None
    retryable: Annotated[bool, _d("Whether a retry (a new attempt) can clear it")]
    related_entity_id: UUID | None
    related_state: str | None
    message: str


class Redaction(AppaloftShape):
    policy: Literal["deployment-environment-secrets"]
    masked: Annotated[bool, _d("Some runtime line shown had a secret value replaced by ****")]
    masked_value_count: Annotated[int, _d("Runtime lines shown that were masked")]


class DiagnosticSummaryResponse(AppaloftShape):
    """What support needs about one resource, secrets masked"""

    schema_version: Literal["resources.diagnostic-summary/v1"]
    generated_at: Moment
    focus: Focus
    context: DiagnosticContext
    deployment: Annotated[DiagnosticDeployment | None, _d("null: no attempt yet")]
    health: DiagnosticHealth
    access: Annotated[None, _d("No generated access or routes here: null")]
    proxy: Annotated[None, _d("No proxy here: null")]
    deployment_logs: LogTail
    runtime_logs: LogTail
    system: DiagnosticSystem
    source_errors: list[DiagnosticSourceError]
    redaction: Redaction
    copy: Annotated[None, _d("null: the answer itself is the copyable JSON")]


SHAPES = (DiagnosticSummaryResponse,)


def _within(at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at <= end)


def _tail(wanted: bool, attempt: AttemptRecord | None, limit: int,
          lines: list[LogLine]) -> LogTail:
    if not wanted:
        return LogTail(status="not-requested", tail_limit=limit, line_count=0, lines=[],
                       reason_code=None, phase=None)
    if attempt is None:
        return LogTail(status="unavailable", tail_limit=limit, line_count=0, lines=[],
                       reason_code="no-deployment", phase=None)
    shown = lines[-limit:] if limit else []
    return LogTail(status="available", tail_limit=limit, line_count=len(shown), lines=shown,
                   reason_code=None, phase=None)


def _deployment_lines(svc: Services, attempt: AttemptRecord, slug: str,
                      window: tuple[datetime | None, datetime | None]) -> list[LogLine]:
    return [LogLine(timestamp=e.timestamp, source=e.source, phase=e.phase, level=e.level,
                    stream=None, service_name=slug, message=e.message, masked=e.masked)
            for e in attempt_logs.logs(svc, attempt.id).logs if _within(e.timestamp, *window)]


def _runtime_lines(svc: Services, attempt: AttemptRecord, slug: str, limit: int,
                   window: tuple[datetime | None, datetime | None]) -> list[LogLine]:
    start, end = window
    rows = svc.runtime_logs.read(attempt.request_id, None, limit if end is None else 1000,
                                 start)
    return [LogLine(timestamp=r["timestamp"], source="container", phase=None, level=None,
                    stream=r["stream"], service_name=slug, message=r["message"],
                    masked=bool(r["masked"])) for r in rows if _within(r["timestamp"], *window)]


def _errors(attempt: AttemptRecord | None, health: DiagnosticHealth
            ) -> list[DiagnosticSourceError]:
    if attempt is None:
        return [DiagnosticSourceError(
            source="deployment", code="no-deployment", category="not-found", phase=None,
            retryable=False, related_entity_id=None, related_state=None,
            message="the resource has no deployment yet")]
    errors = []
    if attempt.status == AttemptStatus.FAILED:
        errors.append(DiagnosticSourceError(
            source="deployment", code="deployment-failed", category="failed",
            phase=failure_phase(attempt), retryable=True, related_entity_id=attempt.id,
            related_state=attempt.status, message=attempt.error_detail or "failed"))
    if health.overall == "unhealthy":
        errors.append(DiagnosticSourceError(
            source="runtime", code=health.reason_code, category="unhealthy", phase="health",
            retryable=False, related_entity_id=attempt.id, related_state=health.runtime_health,
            message=health.message))
    return errors


def summarize(svc: Services, resource_id: UUID, query: DiagnosticQuery, now: datetime,
              request_id: str | None) -> DiagnosticSummaryResponse:
    current = current_of(svc.resource_reads, svc.deployment_reads, svc.resource_health_reads,
                         resource_id)
    resource = current.resource
    attempt = in_focus(svc, resource, query.deployment_id)
    window = (instant(query.observation_from, "observationFrom"),
              instant(query.observation_to, "observationTo"))
    if None not in window and window[0] > window[1]:  # type: ignore[operator]
        raise ApiError(400, {"observationTo": ["is before observationFrom"]})
    health = current.health(now)
    health_view = DiagnosticHealth(
        overall=health.overall, runtime_lifecycle=health.lifecycle,
        runtime_health=health.health, observed_at=health.observed_at,
        reason_code=health.reason_code, message=health.message)
    limit, slug = query.tail_lines, resource.slug
    deploy_lines = [] if attempt is None else _deployment_lines(svc, attempt, slug, window)
    runtime_lines = [] if attempt is None or not query.include_runtime_log_tail or not limit \
        else _runtime_lines(svc, attempt, slug, limit, window)
    runtime = _tail(query.include_runtime_log_tail, attempt, limit, runtime_lines)
    masked = sum(1 for line in runtime.lines if line.masked)
    return DiagnosticSummaryResponse(
        schema_version="resources.diagnostic-summary/v1", generated_at=now,
        focus=Focus(resource_id=resource_id, requested_deployment_id=query.deployment_id,
                    deployment_id=None if attempt is None else attempt.id),
        context=DiagnosticContext(
            project_id=resource.project_id, environment_id=resource.environment_id,
            resource_name=resource.name, resource_slug=slug, resource_kind=resource.kind,
            destination_id=None, server_id=None if attempt is None else attempt.server_id,
            runtime_strategy="docker-container", build_strategy=None, packaging_mode=None,
            target_kind="single-server", target_provider_key=None,
            services=[ServiceView(name=slug, kind="web")],
            network_profile=network_view(resource),
            observation_window=Window(from_=window[0], to=window[1])),
        deployment=None if attempt is None else _deployment(attempt),
        health=health_view, access=None, proxy=None,
        deployment_logs=_tail(query.include_deployment_log_tail, attempt, limit, deploy_lines),
        runtime_logs=runtime,
        system=DiagnosticSystem(
            entrypoint="http", request_id=request_id, locale=query.locale,
            readiness_status=None, database_driver=database_kind(svc.settings.database_url),
            database_mode=None),
        source_errors=_errors(attempt, health_view),
        redaction=Redaction(policy="deployment-environment-secrets", masked=masked > 0,
                            masked_value_count=masked),
        copy=None)


def _deployment(attempt: AttemptRecord) -> DiagnosticDeployment:
    failed = attempt.status == AttemptStatus.FAILED
    return DiagnosticDeployment(
        id=attempt.id, status=attempt.status, lifecycle_phase=attempt.status,
        runtime_plan_id=attempt.id, source_kind="docker-image",
        source_display_name=_image(attempt), server_id=attempt.server_id, destination_id=None,
        created_at=attempt.created_at, started_at=attempt.started_at,
        finished_at=attempt.finished_at, log_count=lines_of(attempt),
        last_error=LastError(timestamp=attempt.failed_at or attempt.finished_at,
                             phase=failure_phase(attempt),
                             message=attempt.error_detail or "failed") if failed else None)


def _image(attempt: AttemptRecord) -> str | None:
    image = json.loads(attempt.snapshot).get("image")
    return image if isinstance(image, str) else None


async def show(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    query = read_query(request, DiagnosticQuery)
    svc = services(request)
    request_id = request.scope.get("state", {}).get("request_id")
    return answer(await run(summarize, svc, resource_id, query, generated_at(request),
                            request_id))


ROUTES = [
    route("GET", "/resources/{resourceId}/diagnostic-summary", show, appaloft_op(
        RESOURCE, "A resource's diagnostic summary", 200, "DiagnosticSummary", (400, 404),
        query=DiagnosticQuery,
        description="Support-safe: the resource, the attempt in focus (deploymentId, else the"
        " serving one, else the latest; 404 unless it is the resource's), its status and last"
        " error, the resource's health, the last tailLines lines of the attempt's deployment"
        " log and of its container's runtime log (within observationFrom..observationTo),"
        " and sourceErrors for what is wrong (no deployment, a failed attempt, an unhealthy"
        " runtime). No secret value is in it. access, proxy and copy are null here.")),
]
