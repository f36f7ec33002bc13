"""The Edgegap-compatible deployment API: deploy (E1, E2), status (E4), stop (E5), self-stop
(E6), bulk stop (E7) and list (E8). Shapes, status codes and strings follow the seed; errors
are Edgegap's {message, details}."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.deployment_inputs import (
    BulkStop,
    DeploymentCreate,
    PrivateFleetDeploymentCreate,
)
from application.deployments import NO_ROOM, Accepted, InvalidAppVersionError
from domain.deployment import AlreadyTerminatedError
from domain.shared import ascii_digits
from entrypoints.http.edgegap_shapes import (
    AllocationErrorResponse,
    BulkStopResponse,
    DeploymentAcceptedResponse,
    DeploymentListResponse,
    DeploymentStopResponse,
    Processable,
)
from entrypoints.http.edgegap_views import (
    deployment_of,
    edgegap_page,
    list_item,
    read_query,
    status_body,
)
from entrypoints.http.errors import ApiError, edgegap_error
from entrypoints.http.inputs import read_body, request_id_of, services
from entrypoints.http.listing import MAX_PAGE
from entrypoints.http.openapi.deployments import DEPLOY, FLEETS, LEGACY
from entrypoints.http.openapi.op import PUBLIC, Op
from entrypoints.http.responses import JSONResponse
from entrypoints.http.routing import route
from projections.query import ListQuery, Order

SELF_STOP_PREFIX = "/v1/self/stop/"
MAX_LIMIT = 100
MAX_ACCESS_POINT_DIGITS = 10  # access points are below 2^31 (application.deployments)


class DeploymentListQuery(msgspec.Struct):
    """Query string of GET /v1/deployments (newest first)."""

    page: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="Page number")] = 1
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT, description="Items per page")] = 20


def _accepted(accepted: Accepted) -> Response:
    # With webhook_on_* given, the secret their signed deliveries use (not in Edgegap's API).
    secret = accepted.hook_secret or msgspec.UNSET
    if accepted.placed:
        return JSONResponse(DeploymentAcceptedResponse(request_id=accepted.request_id,
                                                       webhook_secret=secret),
                            status_code=202)
    # The deployment exists, in error, as the seed says; a stop (or time) removes it.
    return JSONResponse(AllocationErrorResponse(
        request_id=accepted.request_id, message=NO_ROOM, webhook_secret=secret),
                        status_code=422)


async def _deploy(request: Request, cmd: DeploymentCreate,
                  preferred: tuple[str, ...] = ()) -> Response:
    try:
        accepted = await run_in_threadpool(services(request).deployments.deploy, cmd, preferred)
    except InvalidAppVersionError as exc:  # the seed's 400: nothing was created
        return edgegap_error(400, None, exc.message)
    return _accepted(accepted)


async def deploy(request: Request) -> Response:
    return await _deploy(request, await read_body(request, DeploymentCreate))


async def deploy_to_fleet(request: Request) -> Response:
    cmd = await read_body(request, PrivateFleetDeploymentCreate)
    if not cmd.private_host_ids or len(set(cmd.private_host_ids)) != len(cmd.private_host_ids):
        raise ApiError(400, {"private_host_ids": ["must list at least one host, each once"]})
    return await _deploy(request, cmd, tuple(cmd.private_host_ids))


async def status(request: Request) -> Response:
    request_id = request_id_of(request)
    body = await run_in_threadpool(lambda: status_body(services(request),
                                                       deployment_of(request, request_id)))
    return JSONResponse(body)


async def _stopped(request: Request, request_id: str, now: bool) -> Response:
    summary = await run_in_threadpool(lambda: status_body(services(request),
                                                          deployment_of(request, request_id)))
    body = DeploymentStopResponse(message=f"Instance {request_id} will be deleted",
                                  deployment_summary=summary)
    return JSONResponse(body, status_code=200 if now else 202)


async def stop(request: Request) -> Response:
    request_id = request_id_of(request)
    try:
        now = await run_in_threadpool(services(request).deployments.stop, request_id)
    except AlreadyTerminatedError:
        return edgegap_error(410, None, "Instance Already terminated")
    return await _stopped(request, request_id, now)


async def self_stop(request: Request) -> Response:
    request_id = request_id_of(request)
    raw_point = str(request.path_params["access_point_id"])
    token = request.headers.get("authorization", "").strip()
    if not token:
        raise ApiError(401, None, "Unauthorized")
    # An access point that is no number is no deployment's: 403 like a wrong one, 404 when the
    # deployment is unknown.
    point = int(raw_point) if ascii_digits(raw_point) and len(
        raw_point) <= MAX_ACCESS_POINT_DIGITS else -1
    try:
        now = await run_in_threadpool(services(request).deployments.self_stop, request_id,
                                      point, token)
    except AlreadyTerminatedError:
        return edgegap_error(410, None, "Instance Already terminated")
    return await _stopped(request, request_id, now)


async def bulk_stop(request: Request) -> Response:
    cmd = await read_body(request, BulkStop)
    svc = services(request)
    matching = await run_in_threadpool(svc.deployment_finder.matching, cmd.filters)
    stopped = await run_in_threadpool(svc.deployments.bulk_stop, matching)
    body = BulkStopResponse(processable=[Processable(request_id=r) for r in stopped])
    return JSONResponse(body, status_code=202)


async def index(request: Request) -> Response:
    asked = read_query(request, DeploymentListQuery)
    page, limit = asked.page, asked.limit
    svc = services(request)

    def load() -> DeploymentListResponse:
        query = ListQuery((), (Order("start_time", descending=True), Order("request_id")),
                          page=page, page_size=limit)
        found = svc.deployment_reads.deployments.page(query)
        return DeploymentListResponse(
            data=[list_item(svc, r) for r in found.records], total_count=found.total,
            pagination=edgegap_page(page, limit, found.total), message=[])

    return JSONResponse(await run_in_threadpool(load))


_NO_ROOM = (" 422 when no healthy host has room: the deployment is recorded in Status.ERROR"
            " with its request_id; stop it to remove it. 400: invalid body, or unknown"
            " application or version (nothing is created).")
_STOP = (" 200 when READY (the container gets SIGTERM) or ERROR (nothing runs: it ends"
         " TERMINATED at once); 202 otherwise: the stop is carried out once READY or ERROR is"
         " reached. 410: already terminated.")

ROUTES = [
    route("POST", "/v2/deployments", deploy, Op(
        DEPLOY, "[v2] Deploy", 202, "DeploymentAccepted", (400, 422), DeploymentCreate,
        flat=True, description="Places the version on the healthy host with room nearest the"
        " users." + _NO_ROOM)),
    route("POST", "/v2/private-fleets:deploy", deploy_to_fleet, Op(
        FLEETS, "Deploy to Fleet", 202, "DeploymentAccepted", (400, 422),
        PrivateFleetDeploymentCreate, flat=True,
        description="private_host_ids (node ids) are tried in order, then the rest of the"
        " fleet by distance." + _NO_ROOM)),
    route("GET", "/v1/status/{request_id}", status, Op(
        LEGACY, "Deployment status", 200, "DeploymentStatus", (400, 404), flat=True)),
    route("DELETE", "/v1/stop/{request_id}", stop, Op(
        LEGACY, "Stop a deployment", 200, "DeploymentStop", (400, 404, 410), flat=True,
        also=(202,), description="Graceful (SIGTERM)." + _STOP)),
    route("DELETE", SELF_STOP_PREFIX + "{request_id}/{access_point_id}", self_stop, Op(
        LEGACY, "Stop a deployment from inside it", 200, "DeploymentStop",
        (400, 401, 403, 404, 410), flat=True, also=(202,), security=PUBLIC,
        description="Called with ARBITRIUM_DELETE_URL and the header `authorization:"
        " $ARBITRIUM_DELETE_TOKEN`, both injected into the container; 401 without the header,"
        " 403 with a token (or access point) not this deployment's, 404 for an unknown"
        " deployment." + _STOP)),
    route("POST", "/v1/deployments/bulk-stop", bulk_stop, Op(
        LEGACY, "Bulk stop", 202, "BulkStop", (400,), BulkStop, flat=True,
        description="Filters on request_id, app_name, app_version, status, tags or node_id;"
        " any/all/not. Every filter must pass.")),
    route("GET", "/v1/deployments", index, Op(
        LEGACY, "List deployments", 200, "DeploymentList", (400,), flat=True,
        description="Newest first.", query=DeploymentListQuery)),
]
