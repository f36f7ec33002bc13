"""Appaloft's runtime controls: POST /resources/{id}/runtime/stop|start|restart act on the
container of the resource's current deployment (stopped and kept, started again, or both)
without a new deployment attempt, and answer the runtime-control attempt (status `accepted`,
or `blocked` with its reason); the agent carries it out and the attempt moves on to `running`
and `succeeded` or `failed` (GET .../runtime-controls/{id} shows where it is).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

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
from entrypoints.http.openapi.appaloft import COMMAND_ERRORS, RESOURCE, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.runtime_control_views import RuntimeControlAttemptResponse, shape
from projections.query import Cond, ListQuery, Order

_ID = "resourceId"


class ControlRuntime(AppaloftBody):
    """Body of POST /resources/{id}/runtime/stop|start|restart: `{}` (no options yet)."""


class RuntimeControlListResponse(AppaloftShape):
    """A resource's runtime controls, newest first"""

    items: list[RuntimeControlAttemptResponse]


SHAPES = (RuntimeControlListResponse,)


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


_ATTEMPT = "RuntimeControlAttempt"
_CONTROL = (
    " Answers the runtime-control attempt: `accepted` (the node's agent carries it out:"
    " `running` after a phase, then `succeeded`, or `failed` with errorCode runtime-ended when"
    " the deployment ends meanwhile, runtime-control-timeout when no agent carried it out"
    " within DEPLOYMENT_START_DEADLINE_SECONDS), or `blocked` with blockedReason resource-archived,"
    " deployment-in-progress, runtime-control-in-progress or runtime-not-found (no ready"
    " deployment). 404 for an unknown resource; 409 when its environment is locked or"
    " archived.")

ROUTES = [
    route("POST", "/resources/{resourceId}/runtime/stop", stop, appaloft_op(
        RESOURCE, "Stop a resource's current runtime", 200, _ATTEMPT, (400, *COMMAND_ERRORS),
        body=ControlRuntime,
        description="Stops the container of its current deployment and keeps it: it stays"
        " stopped (the agent does not start it again) until a start or a new deployment."
        + _CONTROL)),
    route("POST", "/resources/{resourceId}/runtime/start", start, appaloft_op(
        RESOURCE, "Start a resource's stopped runtime", 200, _ATTEMPT, (400, *COMMAND_ERRORS),
        body=ControlRuntime,
        description="Starts the same container again (the same snapshot), health-checked as"
        " when it was deployed; a running one completes at once." + _CONTROL)),
    route("POST", "/resources/{resourceId}/runtime/restart", restart, appaloft_op(
        RESOURCE, "Restart a resource's runtime", 200, _ATTEMPT, (400, *COMMAND_ERRORS),
        body=ControlRuntime,
        description="Phases stop then start of the same container." + _CONTROL)),
    route("GET", "/resources/{resourceId}/runtime-controls", index, appaloft_op(
        RESOURCE, "List a resource's runtime controls (newest first)", 200, "RuntimeControlList",
        (400, 404), query=LimitQuery)),
    route("GET", "/resources/{resourceId}/runtime-controls/{runtimeControlAttemptId}", show,
          appaloft_op(RESOURCE, "Show a runtime-control attempt", 200, _ATTEMPT, (400, 404))),
]
