"""Nodes.Node endpoints."""

from __future__ import annotations

from application.nodes import ChangeCluster
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    boolean,
    exact,
    one_of,
    text,
    time_range,
)
from entrypoints.http.openapi.op import NODE, Op
from entrypoints.http.openapi.schemas import CLUSTER_FILTER
from entrypoints.http.routing import route

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
    docs={
        "cluster_name": CLUSTER_FILTER,
        "id_type": "Filter by node ID type",
        "self_update_enabled": "Filter by self-update enabled status",
        "status": "Filter by node status",
        "version": "Filter by agent version (exact match or wildcard: `1.0.0`, `1.*`, etc.)",
    },
)


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.nodes, each(serializers.node), SPEC)
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.nodes.delete(key))
change_cluster = RESOURCE.update(ChangeCluster, lambda svc, key, cmd: svc.nodes.change_cluster(
    key, cmd), "change_cluster")

ROUTES = [
    route("GET", "/api/v1/nodes", index, Op(
        NODE, "List all nodes", 200, "Node", (400,), listing=SPEC)),
    route("GET", "/api/v1/nodes/{id}", show, Op(
        NODE, "Get a specific node", 200, "Node", (400, 404))),
    route("DELETE", "/api/v1/nodes/{id}", unless_degraded(delete), Op(
        NODE, "Delete a node", 204, None, (400, 404, 503),
        description="Delete a node; its aliases are deleted with it.")),
    route("PATCH", "/api/v1/nodes/{id}/change_cluster", unless_degraded(change_cluster), Op(
        NODE, "Change a node's cluster", 200, "Node", (400, 404, 409, 422, 503), ChangeCluster,
        description="Move a node (and its aliases) to another cluster. 409 when the target is"
        " at its node_limit or one of the node's alias names is taken there.")),
]
