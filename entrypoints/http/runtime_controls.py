"""Appaloft's runtime controls: POST /resources/{id}/runtime/stop|start|restart act on the
container of the resource's current deployment (stopped and kept, started again, or both)
without a new deployment attempt, and answer the runtime-control attempt (status `accepted`,
or `blocked` with its reason); the agent carries it out and the attempt moves on to `running`
and `succeeded` or `failed` (GET .../runtime-controls/{id} shows where it is).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.projects import AppaloftBody
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    LimitQuery,
    answer,
    found,
    read_query,
    run,
)
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.serializers import Moment, described
from projections.query import Cond, ListQuery, Order
from projections.runtime_controls import RuntimeControlRecord

_d = described
_ID = "resourceId"


class ControlRuntime(AppaloftBody):
    """Body of POST /resources/{id}/runtime/stop|start|restart: `{}` (no options yet)."""


class RuntimeControlPhase(AppaloftShape):
    """One step of a runtime control"""

    phase: Annotated[Literal["stop", "start"], _d("stop or start")]
    status: Annotated[str, _d("pending, succeeded, failed, or skipped (blocked)")]
    error_code: Annotated[str | None, _d("Why it failed")]


class RuntimeControlAttemptResponse(AppaloftShape):
    """A runtime stop, start or restart of a resource's current deployment"""

    runtime_control_attempt_id: Annotated[UUID, _d("Id of this attempt")]
    resource_id: Annotated[UUID, _d("The resource")]
    deployment_id: Annotated[UUID | None, _d("The deployment whose container it acts on"
                                             " (null when blocked for want of one)")]
    operation: Annotated[Literal["stop", "start", "restart"], _d("What was asked")]
    status: Annotated[str, _d("accepted, running, succeeded, failed, or blocked")]
    started_at: Annotated[Moment, _d("When it was asked")]
    completed_at: Annotated[Moment | None, _d("When it ended (blocked: at once)")]
    runtime_state: Annotated[str, _d(
        "The container as decided: running, stopping, stopped, starting, or unknown (the"
        " deployment ended while it ran)")]
    blocked_reason: Annotated[str | None, _d(
        "resource-archived, deployment-in-progress, runtime-control-in-progress, or"
        " runtime-not-found (no deployment of it is ready)")]
    error_code: Annotated[str | None, _d(
        "Why it failed: runtime-ended (the deployment ended while it ran) or"
        " runtime-control-timeout (no agent carried it out within the start deadline)")]
    phases: Annotated[list[RuntimeControlPhase], _d("Its steps in order")]


class RuntimeControlListResponse(AppaloftShape):
    """A resource's runtime controls, newest first"""

    items: list[RuntimeControlAttemptResponse]


SHAPES = (RuntimeControlAttemptResponse, RuntimeControlPhase, RuntimeControlListResponse)


def shape(record: RuntimeControlRecord) -> RuntimeControlAttemptResponse:
    steps: tuple[tuple[Literal["stop", "start"], str | None], ...] = (
        ("stop", record.stop_phase), ("start", record.start_phase))
    phases = [RuntimeControlPhase(phase=p, status=status,
                                  error_code=record.error_code if status == "failed" else None)
              for p, status in steps if status is not None]
    return RuntimeControlAttemptResponse(
        runtime_control_attempt_id=record.id, resource_id=record.resource_id,
        deployment_id=record.deployment_id, operation=record.operation,  # type: ignore[arg-type]
        status=record.status, started_at=record.started_at, completed_at=record.completed_at,
        runtime_state=record.runtime_state, blocked_reason=record.blocked_reason,
        error_code=record.error_code, phases=phases)


async def _control(request: Request, operation: str) -> Response:
    resource_id = path_uuid(request, _ID)
    await read_body(request, ControlRuntime)
    svc = services(request)
    attempt_id = await run(svc.runtime_controls.request, resource_id, operation)
    record = found(await run(svc.resource_reads.runtime_controls.get, attempt_id),
                   "runtime control", attempt_id)
    return answer(shape(record))


async def stop(request: Request) -> Response:
    return await _control(request, "stop")


async def start(request: Request) -> Response:
    return await _control(request, "start")


async def restart(request: Request) -> Response:
    return await _control(request, "restart")


async def index(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    query = read_query(request, LimitQuery)
    reads = services(request).resource_reads
    found(await run(reads.resources.get, resource_id), "resource", resource_id)
    listing = ListQuery((Cond("resource_id", "eq", resource_id),),
                        (Order("started_at", descending=True), Order("id", descending=True)),
                        page_size=query.limit, count=False)
    page = await run(reads.runtime_controls.page, listing)
    return answer(RuntimeControlListResponse(items=[shape(r) for r in page.records]))


async def show(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    attempt_id = path_uuid(request, "runtimeControlAttemptId")
    record = await run(services(request).resource_reads.runtime_controls.get, attempt_id)
    if record is not None and record.resource_id != resource_id:
        record = None
    return answer(shape(found(record, "runtime control", attempt_id)))


ROUTES = [
    Route("/resources/{resourceId}/runtime/stop", stop, methods=["POST"]),
    Route("/resources/{resourceId}/runtime/start", start, methods=["POST"]),
    Route("/resources/{resourceId}/runtime/restart", restart, methods=["POST"]),
    Route("/resources/{resourceId}/runtime-controls", index, methods=["GET"]),
    Route("/resources/{resourceId}/runtime-controls/{runtimeControlAttemptId}", show,
          methods=["GET"]),
]
