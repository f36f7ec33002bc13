"""Nodes.Node endpoints."""

from __future__ import annotations

from starlette.routing import Route

from application.nodes import ChangeCluster
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
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


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.nodes, each(serializers.node), SPEC)
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.nodes.delete(key))
change_cluster = RESOURCE.update(ChangeCluster, lambda svc, key, cmd: svc.nodes.change_cluster(
    key, cmd), "change_cluster")

ROUTES = [
    *routes("/api/v1/nodes", "/api/v1/nodes/{id}", index=index, show=show,
            delete=unless_degraded(delete)),
    Route("/api/v1/nodes/{id}/change_cluster", unless_degraded(change_cluster),
          methods=["PATCH"]),
]
