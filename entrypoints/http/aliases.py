"""Nodes.Alias endpoints."""

from __future__ import annotations

from application.aliases import CreateAlias
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
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

ROUTES = routes("/api/v1/aliases", "/api/v1/aliases/{id}", create=create, index=index, show=show,
                delete=delete, create_at="/api/v1/nodes/{node_id}/aliases")
