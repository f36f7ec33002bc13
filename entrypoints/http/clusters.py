"""Nodes.Cluster endpoints."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.clusters import CreateCluster, UpdateCluster
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.crud import Resource
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_cluster_name, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, int_range, presence, text
from entrypoints.http.responses import no_content, ok
from projections.query import Cond, ListQuery

SPEC = ListSpec(
    params=(
        *STANDARD,
        presence("has_node_limit", "node_limit"),
        text("ipv4_range"),
        text("name"),
        *int_range("node_count"),
        *int_range("node_limit", with_exact=True),
    ),
    sortable=("name", "ipv4_range", "node_count", "node_limit", "inserted_at", "updated_at"),
)


def render(svc: Services, row: dict[str, Any]) -> serializers.ClusterResponse:
    return serializers.cluster(row, svc.view.select("nodes", {"cluster_id": row["id"]}, 100_000))


def load(svc: Services, name: str) -> serializers.ClusterResponse | None:
    page = svc.view.query("clusters", ListQuery((Cond("name", "eq", name),), page_size=1))
    return render(svc, page.rows[0]) if page.rows else None


RESOURCE = Resource(__name__, "clusters", lambda svc, rows: [render(svc, r) for r in rows], SPEC)
create = RESOURCE.create(CreateCluster, lambda svc, request, cmd: svc.clusters.create(cmd))
index = RESOURCE.index()


async def show(request: Request) -> Response:
    name = path_cluster_name(request)
    found = await run_in_threadpool(load, services(request), name)
    if found is None:
        return not_found(request)
    return ok(request, found)


async def update(request: Request) -> Response:
    name = path_cluster_name(request)
    cmd = await read_body(request, UpdateCluster)
    svc = services(request)
    await run_in_threadpool(svc.clusters.update, name, cmd)
    return ok(request, await run_in_threadpool(load, svc, name))


async def delete(request: Request) -> Response:
    name = path_cluster_name(request)
    await run_in_threadpool(services(request).clusters.delete, name)
    return no_content()


ROUTES = [
    Route("/api/v1/clusters", unless_degraded(create), methods=["POST"]),
    Route("/api/v1/clusters", index, methods=["GET"]),
    Route("/api/v1/clusters/{name}", show, methods=["GET"]),
    Route("/api/v1/clusters/{name}", unless_degraded(update), methods=["PATCH"]),
    Route("/api/v1/clusters/{name}", unless_degraded(delete), methods=["DELETE"]),
]
