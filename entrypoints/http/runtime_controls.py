"""Appaloft's runtime controls: POST /resources/{id}/runtime/stop|start|restart act on the
container of the resource's current deployment (stopped and kept, started again, or both)
without a new deployment attempt, and answer the runtime-control attempt (status `accepted`,
or `blocked` with its reason); the agent carries it out and the attempt moves on to `running`
and `succeeded` or `failed` (GET .../runtime-controls/{id} shows where it is).
"""

from __future__ import annotations

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


ROUTES = [
    Route("/resources/{resourceId}/runtime/stop", stop, methods=["POST"]),
    Route("/resources/{resourceId}/runtime/start", start, methods=["POST"]),
    Route("/resources/{resourceId}/runtime/restart", restart, methods=["POST"]),
    Route("/resources/{resourceId}/runtime-controls", index, methods=["GET"]),
    Route("/resources/{resourceId}/runtime-controls/{runtimeControlAttemptId}", show,
          methods=["GET"]),
]
