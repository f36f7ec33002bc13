"""Nodes.Cluster endpoints."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.clusters import CreateCluster, UpdateCluster
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.crud import Resource
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_cluster_name, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, int_range, presence, text
from entrypoints.http.openapi.op import CLUSTER, Op
from entrypoints.http.responses import no_content, ok
from entrypoints.http.routing import route
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
    docs={
        "has_node_limit": "Filter by whether a node limit is set: true returns clusters with a"
        " limit, false returns unlimited",
        "ipv4_range": "Filter by IPv4 range (exact match or wildcard)",
        "name": "Filter by cluster name (exact match or wildcard: `prod*`, `*tion`, `*rod*`)",
        "node_limit": "Filter by exact node limit",
    },
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


ROUTES = [
    route("POST", "/api/v1/clusters", unless_degraded(create), Op(
        CLUSTER, "Create a new cluster", 201, "Cluster", (400, 409, 422, 503), CreateCluster,
        description="Create a new edge cluster with optional IP range. The name `default` is"
        " reserved (used as a URL keyword on convenience routes) and is rejected with 422.")),
    route("GET", "/api/v1/clusters", index, Op(
        CLUSTER, "List all clusters", 200, "Cluster", (400,), listing=SPEC)),
    route("GET", "/api/v1/clusters/{name}", show, Op(
        CLUSTER, "Get a specific cluster", 200, "Cluster", (400, 404))),
    route("PATCH", "/api/v1/clusters/{name}", unless_degraded(update), Op(
        CLUSTER, "Update a cluster", 200, "Cluster", (400, 404, 422, 503), UpdateCluster)),
    route("DELETE", "/api/v1/clusters/{name}", unless_degraded(delete), Op(
        CLUSTER, "Delete a cluster", 204, None, (400, 404, 409, 503),
        description="Delete an empty cluster (must have no nodes).")),
]
