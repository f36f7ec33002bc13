"""Commands.Command endpoints: create (targets resolved once), list, get, delete."""

from __future__ import annotations

from application.commands import CreateCommand
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    int_range,
    presence,
    text,
    time_range,
)
from entrypoints.http.openapi.commands import COMMAND, TARGETS
from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import has_filter, wildcard
from entrypoints.http.routing import route

SPEC = ListSpec(
    params=(
        *STANDARD,
        text("command_text"),
        *time_range("expired_at"),
        presence("has_expired_at", "expired_at"),
        presence("has_timeout", "timeout"),
        *int_range("timeout"),
    ),
    sortable=("command_text", "timeout", "expired_at", "inserted_at", "updated_at"),
    docs={
        "command_text": "Filter by command text " + wildcard("ls, docker*, etc."),
        "has_expired_at": has_filter("an expiration", "commands", "expired_at"),
        "has_timeout": has_filter("a timeout", "commands", "a timeout"),
        "timeout__gte": "Filter commands with timeout greater than or equal to this value"
        " (milliseconds)",
        "timeout__lte": "Filter commands with timeout less than or equal to this value"
        " (milliseconds)",
    },
)

RESOURCE = Resource(__name__, lambda svc: svc.command_reads.commands,
                    each(serializers.command), SPEC)
create = RESOURCE.create_async(CreateCommand,
                              lambda svc, request, cmd: svc.commands.create_async(cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.commands.delete(key))

_CONFLICT = " Returns 409 while any of them is pending or sent."

ROUTES = [
    route("POST", "/api/v1/commands", create, Op(
        COMMAND, "Create a new command", 201, "Command", (400, 422), CreateCommand,
        description="Create a new command for execution on nodes using flexible targeting"
        " options. " + TARGETS + " One `pending` execution per node is created in the same"
        " transaction, each emitting edge.command_execution.created. 422 names the field:"
        " `timeout` must be greater than 0, `expired_at` must be in the future,"
        " `targeting.node_ids` / `targeting.cluster_names` are required for (and only for)"
        " their type, filters refuse unknown keys and values outside their enums.")),
    route("GET", "/api/v1/commands", index, Op(
        COMMAND, "List all commands", 200, "Command", (400,), listing=SPEC,
        description="Returns a paginated list of all commands with filtering and sorting."
        " `targeting` is informational only, not filterable.")),
    route("GET", "/api/v1/commands/{id}", show, Op(
        COMMAND, "Get a specific command", 200, "Command", (400, 404),
        description="Returns details for a specific command by ID")),
    route("DELETE", "/api/v1/commands/{id}", delete, Op(
        COMMAND, "Delete a command", 204, None, (400, 404, 409),
        description="Delete a command and all its related command executions (cascaded"
        " deletion, each emitting edge.command_execution.pruned). Only commands whose"
        " executions are all finished (completed, cancelled or expired) can be deleted."
        + _CONFLICT)),
]
