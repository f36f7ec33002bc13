"""SelfUpdates.Request endpoints: create (processed in the background), list, get, delete."""

from __future__ import annotations

from application.self_updates import CreateSelfUpdateRequest
from domain.self_update import RequestStatus
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.listing import STANDARD, ListSpec, exact, one_of
from entrypoints.http.openapi.commands import SELF_UPDATE, TARGETS
from entrypoints.http.openapi.op import Op
from entrypoints.http.routing import route

SPEC = ListSpec(
    params=(*STANDARD, exact("status", one_of(*(s.value for s in RequestStatus)))),
    sortable=("status", "inserted_at", "updated_at"),
    docs={"status": "Filter by status"},
)

RESOURCE = Resource(__name__, lambda svc: svc.command_reads.self_update_requests,
                    each(serializers.self_update_request), SPEC)
create = RESOURCE.create(CreateSelfUpdateRequest,
                         lambda svc, request, cmd: svc.self_updates.create(cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.self_updates.delete(key))

ROUTES = [
    route("POST", "/api/v1/self_update_requests", create, Op(
        SELF_UPDATE, "Create a new self-update request", 201, "SelfUpdateRequest", (400, 422),
        CreateSelfUpdateRequest,
        description="Create a new self-update request to trigger agent updates. The request"
        " will be processed asynchronously. Only healthy nodes with self_update_enabled=true"
        " will be updated: those filters are merged into the stored targeting, and asking for"
        " other values of them is a 422. " + TARGETS + " Created `pending` with summary"
        " null; the scheduler resolves the targets (`processing`), tells each node (emitting"
        " edge.node.update_triggered) and ends `completed` with its summary (emitting"
        " edge.self_update_request.completed).")),
    route("GET", "/api/v1/self_update_requests", index, Op(
        SELF_UPDATE, "List all self-update requests", 200, "SelfUpdateRequest", (400,),
        listing=SPEC,
        description="Returns a paginated list of all self-update requests with filtering and"
        " sorting. `summary` is null until a request is completed.")),
    route("GET", "/api/v1/self_update_requests/{id}", show, Op(
        SELF_UPDATE, "Get a specific self-update request", 200, "SelfUpdateRequest",
        (400, 404),
        description="Returns details for a specific self-update request by ID. `summary` is"
        " null until the request is completed.")),
    route("DELETE", "/api/v1/self_update_requests/{id}", delete, Op(
        SELF_UPDATE, "Delete a self-update request", 204, None, (400, 404, 409),
        description="Only completed requests can be deleted. Attempting to delete a pending or"
        " processing request will return 409.")),
]
