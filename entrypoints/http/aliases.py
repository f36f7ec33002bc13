"""Nodes.Alias endpoints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.aliases import CreateAlias
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, exact, parse_list_query, parse_uuid, text
from entrypoints.http.responses import no_content, ok, paginated

SPEC = ListSpec(
    params=(*STANDARD, text("cluster_name"), text("name"), exact("node_id", parse_uuid)),
    sortable=("name", "cluster_name", "inserted_at", "updated_at"),
)


def render(svc: Services, alias_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("aliases", alias_id)
    return serializers.alias(row) if row else None


async def create(request: Request) -> Response:
    node_id = path_uuid(request, "node_id")
    cmd = await read_body(request, CreateAlias)
    svc = services(request)
    alias_id = await run_in_threadpool(svc.aliases.create, node_id, cmd)
    return ok(request, await run_in_threadpool(render, svc, alias_id), 201)


async def index(request: Request) -> Response:
    query = parse_list_query(request, SPEC)
    page = await run_in_threadpool(services(request).view.query, "aliases", query)
    return paginated(request, [serializers.alias(r) for r in page.rows], page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).aliases.delete, path_uuid(request))
    return no_content()


ROUTES = [
    Route("/api/v1/nodes/{node_id}/aliases", create, methods=["POST"]),
    Route("/api/v1/aliases", index, methods=["GET"]),
    Route("/api/v1/aliases/{id}", show, methods=["GET"]),
    Route("/api/v1/aliases/{id}", delete, methods=["DELETE"]),
]
