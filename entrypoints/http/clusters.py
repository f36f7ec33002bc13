"""Nodes.Cluster endpoints."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.clusters import CreateCluster, UpdateCluster
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, routes
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_cluster_name, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, int_range, presence, text
from entrypoints.http.responses import no_content, ok
from projections.fleet_tables import ClusterRecord

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


def render(svc: Services, records: list[ClusterRecord]) -> list[serializers.ClusterResponse]:
    nodes = svc.fleet_reads.nodes_of_clusters([r.id for r in records])
    return [serializers.cluster(r, nodes[r.id]) for r in records]


def load(svc: Services, name: str) -> serializers.ClusterResponse | None:
    found = svc.fleet_reads.cluster_named(name)
    return render(svc, [found])[0] if found is not None else None


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.clusters, render, SPEC)
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


ROUTES = routes("/api/v1/clusters", "/api/v1/clusters/{name}", create=unless_degraded(create),
                index=index, show=show, update=unless_degraded(update),
                delete=unless_degraded(delete))
