"""Nodes.Node endpoints."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.nodes import ChangeCluster
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    boolean,
    exact,
    one_of,
    parse_list_query,
    text,
    time_range,
)
from entrypoints.http.responses import no_content, ok, paginated

SPEC = ListSpec(
    params=(
        *STANDARD,
        text("cluster_name"),
        exact("id_type", one_of("persistent", "random")),
        *time_range("last_seen_at"),
        boolean("self_update_enabled"),
        exact("status", one_of("healthy", "unhealthy", "unreachable")),
        text("version"),
    ),
    sortable=("cluster_name", "id_type", "status", "version", "self_update_enabled",
              "last_seen_at", "inserted_at", "updated_at"),
)


def render(svc: Services, node_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("nodes", node_id)
    return serializers.node(row) if row else None


async def index(request: Request) -> Response:
    query = parse_list_query(request, SPEC)
    page = await run_in_threadpool(services(request).view.query, "nodes", query)
    return paginated(request, [serializers.node(r) for r in page.rows], page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).nodes.delete, path_uuid(request))
    return no_content()


async def change_cluster(request: Request) -> Response:
    node_id = path_uuid(request)
    cmd = await read_body(request, ChangeCluster)
    svc = services(request)
    await run_in_threadpool(svc.nodes.change_cluster, node_id, cmd)
    return ok(request, await run_in_threadpool(render, svc, node_id))


ROUTES = [
    Route("/api/v1/nodes", index, methods=["GET"]),
    Route("/api/v1/nodes/{id}", show, methods=["GET"]),
    Route("/api/v1/nodes/{id}", unless_degraded(delete), methods=["DELETE"]),
    Route("/api/v1/nodes/{id}/change_cluster", unless_degraded(change_cluster),
          methods=["PATCH"]),
]
