"""Nodes.Alias endpoints."""

from __future__ import annotations

from starlette.routing import Route

from application.aliases import CreateAlias
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.inputs import path_uuid
from entrypoints.http.listing import STANDARD, ListSpec, exact, parse_uuid, text

SPEC = ListSpec(
    params=(*STANDARD, text("cluster_name"), text("name"), exact("node_id", parse_uuid)),
    sortable=("name", "cluster_name", "inserted_at", "updated_at"),
)


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.aliases, each(serializers.alias),
                    SPEC)
create = RESOURCE.create(
    CreateAlias, lambda svc, request, cmd: svc.aliases.create(path_uuid(request, "node_id"), cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.aliases.delete(key))

ROUTES = [
    Route("/api/v1/nodes/{node_id}/aliases", create, methods=["POST"]),
    Route("/api/v1/aliases", index, methods=["GET"]),
    Route("/api/v1/aliases/{id}", show, methods=["GET"]),
    Route("/api/v1/aliases/{id}", delete, methods=["DELETE"]),
]
