"""SelfUpdates.Request endpoints: create (processed in the background), list, get, delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.self_updates import CreateSelfUpdateRequest
from domain.self_update import RequestStatus
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, exact, one_of, parse_list_query
from entrypoints.http.responses import no_content, ok, paginated

SPEC = ListSpec(
    params=(*STANDARD, exact("status", one_of(*(s.value for s in RequestStatus)))),
    sortable=("status", "inserted_at", "updated_at"),
)


def render(svc: Services, request_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("self_update_requests", request_id)
    return serializers.self_update_request(row) if row else None


async def create(request: Request) -> Response:
    cmd = await read_body(request, CreateSelfUpdateRequest)
    svc = services(request)
    request_id = await run_in_threadpool(svc.self_updates.create, cmd)
    return ok(request, await run_in_threadpool(render, svc, request_id), 201)


async def index(request: Request) -> Response:
    query = parse_list_query(request, SPEC)
    page = await run_in_threadpool(services(request).view.query, "self_update_requests", query)
    rows = [serializers.self_update_request(r) for r in page.rows]
    return paginated(request, rows, page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).self_updates.delete, path_uuid(request))
    return no_content()


ROUTES = [
    Route("/api/v1/self_update_requests", create, methods=["POST"]),
    Route("/api/v1/self_update_requests", index, methods=["GET"]),
    Route("/api/v1/self_update_requests/{id}", show, methods=["GET"]),
    Route("/api/v1/self_update_requests/{id}", delete, methods=["DELETE"]),
]
