"""Mengi's `POST /deployments/app-hosting` on the Deployment aggregate, with its response shape
(DeploymentResponse) and FastAPI's validation errors ({"detail": [{loc, msg, type}]}), as
Structs the handler returns and the OpenAPI document takes its schemas from (SHAPES)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.app_hosting import AppHostingDeploymentCreate, AppType, app_type_of
from domain.deployment import Status
from domain.shared import InvalidValueError, name_id
from entrypoints.http.edgegap_shapes import RequestId
from entrypoints.http.errors import validation_details
from entrypoints.http.inputs import BodyError, decode_body, services
from entrypoints.http.openapi.deployments import MENGI
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import JSONResponse
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, Shape, described
from projections.deployment_tables import DeploymentRecord

_d = described
_NONE = Annotated[str | None, _d("Always null here")]
MengiStatus = Literal["pending", "provisioning", "promoting", "running", "stopped", "failed",
                      "error", "migrating", "deleting"]


class AppHostingDeploymentResponse(Shape):
    """Mengi's DeploymentResponse, plus request_id for the Edgegap endpoints"""

    id: Annotated[UUID, _d("The deployment's id")]
    user_id: Annotated[UUID | None, _d(
        "Who asked: there are no user accounts here, so one id per key setting (API_KEY or"
        " MASTER_KEY) that authorised the request. Null for deployments made before it was"
        " recorded")]
    cluster_id: Annotated[UUID | None, _d("The node it is placed on; null if none had room")]
    name: Annotated[str, _d("deployment_name")]
    app_type: Annotated[AppType, _d(
        "As requested, except helm (the request's default): what runs here is a container")]
    status: MengiStatus
    config: Annotated[dict[str, Any] | None, _d("As requested (free-form)")]
    cpu_request: float | None
    memory_request_mb: int | None
    replicas: int | None
    container_port: int | None
    storage_size_gb: int | None
    deployment_type: str | None
    helm_repo_url: str | None
    helm_chart_name: str | None
    helm_chart_version: str | None
    custom_values_yaml: str | None
    image_update_strategy: str | None
    image_update_constraint: str | None
    image_allow_tags: str | None
    image_ignore_tags: str | None
    values_yaml: _NONE
    git_path: _NONE
    endpoint_url: Annotated[str | None, _d("The container port's link once running")]
    error_message: str | None
    is_adopted: bool
    source_namespace: _NONE
    created_at: Moment
    updated_at: Moment
    provider: Literal["edge"]
    region: Annotated[str, _d("geographic_region as requested")]
    cluster_status: Annotated[str | None, _d("The host's city")]
    cluster_error: _NONE
    request_id: RequestId


class ValidationProblem(Shape):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationErrorResponse(Shape):
    """FastAPI's validation error"""

    detail: list[ValidationProblem]


class HTTPErrorResponse(Shape):
    """FastAPI's HTTPException body"""

    detail: str


SHAPES = (AppHostingDeploymentResponse, HTTPValidationErrorResponse, HTTPErrorResponse)
STATUS: dict[str, MengiStatus] = {
    Status.SEEKING.value: "pending", Status.DEPLOYING.value: "provisioning",
    Status.READY.value: "running", Status.ERROR.value: "failed",
    Status.TERMINATED.value: "stopped"}
ECHOED = ("config", "cpu_request", "memory_request_mb", "replicas", "container_port",
          "storage_size_gb", "deployment_type", "helm_repo_url", "helm_chart_name",
          "helm_chart_version", "custom_values_yaml", "image_update_strategy",
          "image_update_constraint", "image_allow_tags", "image_ignore_tags")


def invalid(loc: list[str | int], msg: str, kind: str = "value_error") -> JSONResponse:
    problem = ValidationProblem(loc=loc, msg=msg, type=kind)
    return JSONResponse(HTTPValidationErrorResponse(detail=[problem]), status_code=422)


def hosting_body(row: DeploymentRecord) -> AppHostingDeploymentResponse:
    spec = json.loads(row.spec)
    asked = spec["hosting"]
    ports = json.loads(row.ports or "{}")
    link = next((p.get("link") for p in ports.values()), None)
    location = json.loads(row.location or "{}")
    status: MengiStatus = "deleting" if row.stopping else STATUS[row.status]
    return AppHostingDeploymentResponse(
        id=row.id, user_id=asked.get("user_id"), cluster_id=row.node_id,
        name=asked["deployment_name"], app_type=app_type_of(asked), status=status,
        **{k: asked.get(k) for k in ECHOED},
        values_yaml=None, git_path=None, endpoint_url=link,
        error_message=row.error_detail or None, is_adopted=False,
        source_namespace=None, created_at=row.start_time,
        updated_at=row.updated_at, provider="edge", region=asked["geographic_region"],
        cluster_status=location.get("city"), cluster_error=None,
        request_id=row.request_id,
    )


def fastapi_loc(field: str) -> list[str | int]:
    """FastAPI's loc of a field path: "volumes[0].sizeGb" -> ["body", "volumes", 0, "sizeGb"]."""
    loc: list[str | int] = ["body"]
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field if field != "body" else ""):
        loc.append(int(index) if index else name)
    return loc


def user_of(request: Request) -> UUID:
    """One user per key setting that authorises (the middleware names it)."""
    return name_id("api-key-user", str(request.scope["state"]["caller"]))


async def create(request: Request) -> Response:
    try:
        cmd = await decode_body(request, AppHostingDeploymentCreate)
    except msgspec.ValidationError as exc:
        [(field, [message])] = validation_details(exc).items()
        return invalid(fastapi_loc(field), message, "value_error")
    except BodyError as exc:
        if exc.too_large:
            return JSONResponse(HTTPErrorResponse(detail=f"request body {exc.message}"),
                                status_code=413)
        loc: list[str | int] = ["body", *exc.field.split(".")] if exc.field != "body" else ["body"]
        return invalid(loc, exc.message, "json_invalid" if exc.status == 400 else "value_error")
    svc = services(request)
    try:
        accepted = await run_in_threadpool(svc.app_hosting.create, cmd, user_of(request))
    except InvalidValueError as exc:
        return invalid(fastapi_loc(exc.field or "body"), exc.message)
    row = await run_in_threadpool(svc.deployment_reads.deployment, accepted.request_id)
    assert row is not None  # written through the read model before deploy() returned
    return JSONResponse(hosting_body(row))


ROUTES = [
    route("POST", "/deployments/app-hosting", create, Op(
        MENGI, "Create App Hosting Deployment", 200, "AppHostingDeployment", (413, 422),
        AppHostingDeploymentCreate, flat=True, fastapi_errors=True,
        description="Mengi's request on the same deployments: `deployment_type: docker` only"
        " (docker_image, container_port, cpu_request in vCPU, memory_request_mb,"
        " environment_variables as KEY=value). The region picks the hosts whose location"
        " names it; the answer is Mengi's DeploymentResponse (status pending, provisioning,"
        " running, failed, stopped or deleting), plus `request_id` for the Edgegap endpoints."
        " Errors are FastAPI's {detail: [{loc, msg, type}]}; a body past MAX_BODY_BYTES is a"
        " 413 {detail}.")),
]
