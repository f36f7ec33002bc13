"""OpenAPI wording for Commands.Command, Commands.CommandExecution and SelfUpdates.Request."""

from __future__ import annotations

import msgspec

from application.commands import CreateCommand
from application.self_updates import CreateSelfUpdateRequest
from domain.targeting import Targeting
from entrypoints.http import command_executions, commands, self_update_requests
from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import Schema

COMMAND, EXECUTION, SELF_UPDATE = (
    "Commands.Command", "Commands.CommandExecution", "SelfUpdates.Request")
TAGS = [COMMAND, EXECUTION, SELF_UPDATE]
# The nested targeting structs become their own components (msgspec names them after the
# structs); the seed's field wording is added here so the constraints still come from the code.
_CLUSTER_FILTER = "Filter by cluster name (exact match or wildcard: prod*, *staging, etc.)"
TARGETING_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "Targeting": ("Targeting specification (shared by commands and self-update requests)", {
        "type": "Targeting strategy: 'all' for all nodes, 'nodes' for specific nodes,"
        " 'clusters' for specific clusters",
        "node_ids": "Array of node IDs (required when type is 'nodes', refused otherwise)"
        " (will always be deduplicated). Unknown IDs match nothing.",
        "cluster_names": "Array of cluster names (required when type is 'clusters', refused"
        " otherwise) (will always be deduplicated). Unknown names match nothing.",
        "node_filters": "Optional filters to apply to target nodes (AND logic with"
        " cluster_filters). Same meaning as the node list filters.",
        "cluster_filters": "Optional filters to apply to target clusters (AND logic with"
        " node_filters). Same meaning as the cluster list filters.",
    }),
    "NodeFilters": ("Node list filters usable in targeting; unknown keys are a 422", {
        "cluster_name": _CLUSTER_FILTER,
        "id_type": "Filter by node ID type",
        "inserted_at__gte": "Filter nodes inserted after or on this date",
        "inserted_at__lte": "Filter nodes inserted before or on this date",
        "last_seen_at__gte": "Filter nodes last seen after or on this datetime",
        "last_seen_at__lte": "Filter nodes last seen before or on this datetime",
        "updated_at__gte": "Filter nodes updated after or on this datetime",
        "updated_at__lte": "Filter nodes updated before or on this datetime",
        "self_update_enabled": "Filter by self-update enabled status",
        "status": "Filter by node status",
        "version": "Filter by node version (exact match or wildcard: 1.0.0, 1.*, etc.)",
    }),
    "ClusterFilters": ("Cluster list filters usable in targeting (a node matches when its"
                       " cluster does); unknown keys are a 422", {
        "has_node_limit": "Filter clusters that have (true) or do not have (false) a node"
        " limit set",
        "inserted_at__gte": "Filter clusters inserted after or on this date",
        "inserted_at__lte": "Filter clusters inserted before or on this date",
        "updated_at__gte": "Filter clusters updated after or on this datetime",
        "updated_at__lte": "Filter clusters updated before or on this datetime",
        "ipv4_range": "Filter by IPv4 range (CIDR notation; exact match or wildcard)",
        "name": _CLUSTER_FILTER,
        "node_count": "Filter by exact node count",
        "node_count__gte": "Filter by node count greater than or equal to",
        "node_count__lte": "Filter by node count less than or equal to",
    }),
}
_MOMENT_NOTE = " (ISO 8601 datetime or date; a date-only __lte covers the whole day, UTC)"


def targeting_components() -> dict[str, Schema]:
    """The targeting structs' schemas with the seed's wording (request bodies nest them)."""
    _, found = msgspec.json.schema_components(
        [Targeting], ref_template="#/components/schemas/{name}")
    out = {}
    for name, (description, fields) in TARGETING_DOCS.items():
        schema = found[name]
        if undocumented := set(schema["properties"]) - set(fields):
            raise LookupError(f"{name}: describe {sorted(undocumented)} in TARGETING_DOCS")
        for field, text in fields.items():
            prop = schema["properties"][field]
            if field.endswith(("at__gte", "at__lte")):
                prop["anyOf"] = [{"type": "string", "format": "date-time"},
                                 {"type": "string", "format": "date"}, {"type": "null"}]
                text += _MOMENT_NOTE
            prop["description"] = text
        out[name] = {**schema, "description": description}
    return out



_CONFLICT = " Returns 409 while any of them is pending or sent."
_TARGETS = ("Targeting types: 'all' (all nodes), 'nodes' (node_ids) or 'clusters'"
            " (cluster_names), each refined by node_filters and cluster_filters (AND). Targets"
            " are resolved once, when the order is created; nodes that join later are not"
            " targeted. Unknown node ids and cluster names match nothing (not an error).")
_NODE_GONE = (" When a node is deleted its executions stay with node_id null; the open ones"
              " (pending, sent) end `cancelled` in the same transaction.")
_LATE = (" Final states never change: a result the agent reports after a cancel or an expiry"
         " is acknowledged and dropped.")
_GET, _POST, _PATCH, _DELETE = "GET", "POST", "PATCH", "DELETE"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_POST, "/api/v1/commands"): Op(
        COMMAND, "Create a new command", 201, "Command", (400, 422), CreateCommand,
        description="Create a new command for execution on nodes using flexible targeting"
        " options. " + _TARGETS + " One `pending` execution per node is created in the same"
        " transaction, each emitting edge.command_execution.created. 422 names the field:"
        " `timeout` must be greater than 0, `expired_at` must be in the future,"
        " `targeting.node_ids` / `targeting.cluster_names` are required for (and only for)"
        " their type, filters refuse unknown keys and values outside their enums."),
    (_GET, "/api/v1/commands"): Op(
        COMMAND, "List all commands", 200, "Command", (400,), listing=commands.SPEC,
        description="Returns a paginated list of all commands with filtering and sorting."
        " `targeting` is informational only, not filterable."),
    (_GET, "/api/v1/commands/{id}"): Op(
        COMMAND, "Get a specific command", 200, "Command", (400, 404),
        description="Returns details for a specific command by ID"),
    (_DELETE, "/api/v1/commands/{id}"): Op(
        COMMAND, "Delete a command", 204, None, (400, 404, 409),
        description="Delete a command and all its related command executions (cascaded"
        " deletion, each emitting edge.command_execution.pruned). Only commands whose"
        " executions are all finished (completed, cancelled or expired) can be deleted."
        + _CONFLICT),
    (_GET, "/api/v1/command_executions"): Op(
        EXECUTION, "List command executions", 200, "CommandExecution", (400,),
        listing=command_executions.SPEC,
        description="Returns a paginated list of command executions with filtering and"
        " sorting. The `cluster_name` filter follows the node's current cluster (it moves"
        " with PATCH /nodes/{id}/change_cluster), while the `cluster_name` field is the"
        " cluster the command named." + _NODE_GONE),
    (_GET, "/api/v1/command_executions/{id}"): Op(
        EXECUTION, "Get a specific command execution", 200, "CommandExecution", (400, 404),
        description="Returns details for a specific command execution by ID." + _NODE_GONE
        + _LATE + " Open executions also end `expired` once the command's expired_at passes,"
        " or when their node stays unreachable longer than EXECUTION_UNREACHABLE_GRACE_SECONDS."),
    (_DELETE, "/api/v1/command_executions/{id}"): Op(
        EXECUTION, "Delete a command execution", 204, None, (400, 404, 409),
        description="Delete a specific command execution (emits"
        " edge.command_execution.pruned). Only completed, cancelled, or expired executions"
        " can be deleted; pending or sent ones return 409."),
    (_PATCH, "/api/v1/command_executions/{id}/cancel"): Op(
        EXECUTION, "Cancel a command execution", 200, "CancelExecutionData",
        (400, 404, 409),
        description="`pending`: cancelled at once (the command never ran); result"
        " `cancelled`. `sent`: the agent is asked on its next poll (result `cancellation"
        " request sent`, also when asked again) and stays the source of truth: exit code 143"
        " means it honoured the cancellation (`cancelled`); any other result means the"
        " command had finished (`completed`). Poll the execution to see the outcome."
        " Terminal executions (completed, cancelled, expired) return 409." + _LATE),
    (_POST, "/api/v1/self_update_requests"): Op(
        SELF_UPDATE, "Create a new self-update request", 201, "SelfUpdateRequest", (400, 422),
        CreateSelfUpdateRequest,
        description="Create a new self-update request to trigger agent updates. The request"
        " will be processed asynchronously. Only healthy nodes with self_update_enabled=true"
        " will be updated: those filters are merged into the stored targeting, and asking for"
        " other values of them is a 422. " + _TARGETS + " Created `pending` with summary"
        " null; the scheduler resolves the targets (`processing`), tells each node (emitting"
        " edge.node.update_triggered) and ends `completed` with its summary (emitting"
        " edge.self_update_request.completed)."),
    (_GET, "/api/v1/self_update_requests"): Op(
        SELF_UPDATE, "List all self-update requests", 200, "SelfUpdateRequest", (400,),
        listing=self_update_requests.SPEC,
        description="Returns a paginated list of all self-update requests with filtering and"
        " sorting. `summary` is null until a request is completed."),
    (_GET, "/api/v1/self_update_requests/{id}"): Op(
        SELF_UPDATE, "Get a specific self-update request", 200, "SelfUpdateRequest",
        (400, 404),
        description="Returns details for a specific self-update request by ID. `summary` is"
        " null until the request is completed."),
    (_DELETE, "/api/v1/self_update_requests/{id}"): Op(
        SELF_UPDATE, "Delete a self-update request", 204, None, (400, 404, 409),
        description="Only completed requests can be deleted. Attempting to delete a pending or"
        " processing request will return 409."),
}

_WILD = "(exact match or wildcard: {})"
_HAS = "Filter by whether {0} is set: true returns {1} with {2}, false returns {1} without"
QUERY_DOCS: dict[str, dict[str, str]] = {
    "/api/v1/commands": {
        "command_text": "Filter by command text " + _WILD.format("ls, docker*, etc."),
        "has_expired_at": _HAS.format("an expiration", "commands", "expired_at"),
        "has_timeout": _HAS.format("a timeout", "commands", "a timeout"),
        "timeout__gte": "Filter commands with timeout greater than or equal to this value"
        " (milliseconds)",
        "timeout__lte": "Filter commands with timeout less than or equal to this value"
        " (milliseconds)",
    },
    "/api/v1/command_executions": {
        "cluster_name": "Filter by cluster name via node's cluster (its current one) "
        + _WILD.format("prod, staging*, etc."),
        "command_id": "Filter by command ID",
        "exit_code": "Filter by exact exit code",
        "exit_code__gte": "Filter executions with exit code greater than or equal to this"
        " value (e.g. 1 for all failures)",
        "exit_code__lte": "Filter executions with exit code less than or equal to this value",
        "has_cluster": "Filter by cluster_name presence (true = executions of a command that"
        " targeted exactly one cluster, false = all, nodes or multi-cluster targeting)",
        "has_output": _HAS.format("output", "executions", "output"),
        "node_id": "Filter by node ID",
        "output": "Text search in output " + _WILD.format("error, *failed*, etc."),
        "status": "Filter by execution status",
        "target_all": "Filter by target_all flag",
    },
    "/api/v1/self_update_requests": {"status": "Filter by status"},
}
ID_DOCS = {COMMAND: "Command ID", EXECUTION: "Command Execution ID",
           SELF_UPDATE: "Self-update request ID"}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateCommand": ("CommandCreateRequest", {
        "command_text": "Multi-line shell script/commands to execute (run with /bin/sh)",
        "targeting": "Which nodes receive the command (resolved once, at creation)",
        "timeout": "Command timeout in milliseconds (optional, null or omitted means no"
        " timeout, must be > 0)",
        "expired_at": "RFC 3339 datetime (UTC when no offset is given). Deadline after which"
        " pending/sent executions are automatically expired. Must be in the future."
        " Immutable after creation.",
    }),
    "CreateSelfUpdateRequest": ("SelfUpdateRequestCreateRequest", {
        "targeting": "Which nodes to update (same format as commands)",
    }),
}
