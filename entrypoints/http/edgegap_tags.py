"""Edgegap deployment tags (E12-E16): set on a deployment, not injected into its container."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.deployment_inputs import TagBody
from entrypoints.http.edgegap_shapes import EmptyPagination, TagListResponse, TagResponse
from entrypoints.http.edgegap_views import deployment_of, edgegap_time
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import read_body, request_id_of, services
from entrypoints.http.openapi.deployments import TAGS_TAG
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import JSONResponse, no_content
from entrypoints.http.routing import route
from projections.deployment_tables import DeploymentTagRecord


def tag_body(tag: DeploymentTagRecord) -> TagResponse:
    return TagResponse(name=tag.name, create_time=edgegap_time(tag.create_time),
                       last_updated=edgegap_time(tag.last_updated))


def _tags(request: Request) -> list[DeploymentTagRecord]:
    found = deployment_of(request, request_id_of(request))
    return services(request).deployment_reads.tags_of(found.id)


def _tag(request: Request) -> DeploymentTagRecord:
    name = request.path_params["tag_name"]
    found = next((t for t in _tags(request) if t.name == name), None)
    if found is None:
        raise ApiError(404, None, f"tag {name} not found")
    return found


async def list_tags(request: Request) -> Response:
    tags = await run_in_threadpool(_tags, request)
    return JSONResponse(TagListResponse(tags=[tag_body(t) for t in tags], count=len(tags),
                                        pagination=EmptyPagination()))


async def get_tag(request: Request) -> Response:
    return JSONResponse(tag_body(await run_in_threadpool(_tag, request)))


async def create_tag(request: Request) -> Response:
    request_id = request_id_of(request)
    body = await read_body(request, TagBody)
    await run_in_threadpool(services(request).deployments.add_tag, request_id, body.name)
    request.path_params["tag_name"] = body.name
    return JSONResponse(tag_body(await run_in_threadpool(_tag, request)))


async def update_tag(request: Request) -> Response:
    request_id = request_id_of(request)
    body = await read_body(request, TagBody)
    await run_in_threadpool(services(request).deployments.rename_tag, request_id,
                            request.path_params["tag_name"], body.name)
    request.path_params["tag_name"] = body.name
    return JSONResponse(tag_body(await run_in_threadpool(_tag, request)))


async def delete_tag(request: Request) -> Response:
    await run_in_threadpool(services(request).deployments.remove_tag, request_id_of(request),
                            request.path_params["tag_name"])
    return no_content()


TAGS = "/v1/deployments/{request_id}/tags"
ROUTES = [
    route("GET", TAGS, list_tags, Op(
        TAGS_TAG, "List tags", 200, "TagList", (404,), flat=True)),
    route("POST", TAGS, create_tag, Op(
        TAGS_TAG, "Create a tag", 200, "Tag", (400, 404, 409), TagBody, flat=True,
        description="Not injected into a running container.")),
    route("GET", TAGS + "/{tag_name:path}", get_tag, Op(
        TAGS_TAG, "Get a tag", 200, "Tag", (404,), flat=True)),
    route("PATCH", TAGS + "/{tag_name:path}", update_tag, Op(
        TAGS_TAG, "Rename a tag", 200, "Tag", (400, 404, 409), TagBody, flat=True)),
    route("DELETE", TAGS + "/{tag_name:path}", delete_tag, Op(
        TAGS_TAG, "Delete a tag", 204, None, (404,))),
]
