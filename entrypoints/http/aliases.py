"""Nodes.Alias endpoints."""

from __future__ import annotations

from application.aliases import CreateAlias
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.inputs import path_uuid
from entrypoints.http.listing import STANDARD, ListSpec, exact, parse_uuid, text
from entrypoints.http.openapi.op import ALIAS, Op
from entrypoints.http.openapi.schemas import CLUSTER_FILTER
from entrypoints.http.routing import route

SPEC = ListSpec(
    params=(*STANDARD, text("cluster_name"), text("name"), exact("node_id", parse_uuid)),
    sortable=("name", "cluster_name", "inserted_at", "updated_at"),
    docs={
        "cluster_name": CLUSTER_FILTER,
        "name": "Filter by alias name (exact match or wildcard: `web*`, `*east`, etc.)",
        "node_id": "Filter by node ID (exact match UUID)",
    },
)


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.aliases, each(serializers.alias),
                    SPEC)
create = RESOURCE.create(
    CreateAlias, lambda svc, request, cmd: svc.aliases.create(path_uuid(request, "node_id"), cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.aliases.delete(key))

ROUTES = [
    route("POST", "/api/v1/nodes/{node_id}/aliases", create, Op(
        ALIAS, "Create a new alias for a node", 201, "Alias", (400, 404, 409, 422, 503),
        CreateAlias)),
    route("GET", "/api/v1/aliases", index, Op(
        ALIAS, "List all aliases", 200, "Alias", (400,), listing=SPEC)),
    route("GET", "/api/v1/aliases/{id}", show, Op(
        ALIAS, "Get a specific alias", 200, "Alias", (400, 404))),
    route("DELETE", "/api/v1/aliases/{id}", delete, Op(
        ALIAS, "Delete an alias", 204, None, (400, 404, 503))),
]
