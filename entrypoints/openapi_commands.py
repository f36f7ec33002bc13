"""OpenAPI parts for Commands.Command, Commands.CommandExecution and SelfUpdates.Request."""

from __future__ import annotations

from typing import Any

from application.commands import CreateCommand
from application.self_updates import CreateSelfUpdateRequest
from domain.command_execution import ExecutionStatus
from domain.self_update import RequestStatus
from entrypoints.http import command_executions, commands, self_update_requests
from entrypoints.openapi_op import Op
from entrypoints.openapi_schemas import (
    BOOL,
    INT,
    STR,
    TIME,
    UUID_S,
    Schema,
    doc,
    nullable,
    obj,
)

COMMAND, EXECUTION, SELF_UPDATE = (
    "Commands.Command", "Commands.CommandExecution", "SelfUpdates.Request")
TAGS = [COMMAND, EXECUTION, SELF_UPDATE]
_AT = {"inserted_at": doc(TIME, "When it was created"),
       "updated_at": doc(TIME, "When it was last updated")}
_TARGETING = doc({"type": "object"}, "Targeting configuration used when creating this order"
                 " (informational only, not filterable)")
_EXEC_STATUS: Schema = {"type": "string", "enum": [s.value for s in ExecutionStatus]}

RESOURCES: dict[str, Any] = {
    "CommandResponse": obj(
        "A command: a shell script for the nodes its targeting resolved to at creation",
        id=doc(UUID_S, "Unique command identifier"),
        command_text=doc(STR, "Multi-line shell script/commands"),
        targeting=_TARGETING,
        timeout=doc(nullable(INT), "Command timeout in milliseconds (null means no timeout)"),
        expired_at=doc(nullable(TIME), "Deadline after which pending/sent executions are"
                       " automatically expired (immutable after creation)"),
        **_AT,
    ),
    "CommandExecutionResponse": obj(
        "One command on one node",
        id=doc(UUID_S, "Unique command execution identifier"),
        command_id=doc(UUID_S, "ID of the command being executed"),
        node_id=doc(nullable(UUID_S), "ID of the target node; null once the node is deleted"),
        cluster_name=doc(nullable(STR), "The cluster explicitly targeted when this execution"
                         " was created; only set when the command targeted exactly one cluster"),
        command_text=doc(nullable(STR), "The command text being executed"),
        timeout=doc(nullable(INT), "Command timeout in milliseconds (null means no timeout)"),
        expired_at=doc(nullable(TIME), "The expiration deadline from the parent command"),
        status=doc(_EXEC_STATUS, "Current execution status"),
        target_all=doc(BOOL, "Whether this execution was created from a system-wide command"),
        sent_at=doc(nullable(TIME), "When the command was (last) handed to the agent"),
        completed_at=doc(nullable(TIME), "When the command execution was completed"),
        cancelled_at=doc(nullable(TIME), "When the command execution was cancelled"),
        exit_code=doc(nullable(INT), "Final exit code (0 = success, non-zero = failure; 143 ="
                      " cancelled by the agent, 124 = timed out, 137 = the agent stopped)"),
        output=doc(nullable(STR), "Combined stdout and stderr, at most 65,536 characters"
                   " (head and tail kept around a marker when longer)"),
        **_AT,
    ),
    "CancelExecutionDataResponse": obj(
        "Cancellation request status", result=doc(STR, "`cancelled` for a pending execution,"
                                                   " `cancellation request sent` for a sent one")),
    "SelfUpdateRequestResponse": obj(
        "A request for agents to update themselves",
        id=doc(UUID_S, "Self-update request ID"),
        status=doc({"type": "string", "enum": [s.value for s in RequestStatus]},
                   "Request processing status"),
        summary=doc({"type": ["object", "null"], "properties": {
            "total": INT, "triggered": INT, "failed": INT}},
            "Summary of results; null until the request is completed"),
        targeting=doc({"type": "object"}, "Targeting configuration (same format as commands),"
                      " with the implicit status=healthy and self_update_enabled=true filters"),
        **_AT,
    ),
}

_CONFLICT = " Returns 409 while any of them is pending or sent."
_ORDER = ("Targets are resolved once, when the order is created; nodes that join later are not"
          " targeted. Unknown node ids and cluster names match nothing (not an error).")
_GET, _POST, _PATCH, _DELETE = "GET", "POST", "PATCH", "DELETE"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_POST, "/api/v1/commands"): Op(
        COMMAND, "Create a new command", 201, "Command", (400, 422), CreateCommand,
        description="Create a new command for execution on nodes using flexible targeting"
        " options: `all`, `nodes` (node_ids) or `clusters` (cluster_names), refined by"
        " node_filters and cluster_filters (AND). " + _ORDER + " One execution per node is"
        " created in the same transaction, each emitting edge.command_execution.created."),
    (_GET, "/api/v1/commands"): Op(
        COMMAND, "List all commands", 200, "Command", (400,), listing=commands.SPEC),
    (_GET, "/api/v1/commands/{id}"): Op(
        COMMAND, "Get a specific command", 200, "Command", (400, 404)),
    (_DELETE, "/api/v1/commands/{id}"): Op(
        COMMAND, "Delete a command", 204, None, (400, 404, 409),
        description="Delete a command and all its related command executions (cascaded"
        " deletion, each emitting edge.command_execution.pruned). Only commands whose"
        " executions are all finished (completed, cancelled or expired) can be deleted."
        + _CONFLICT),
    (_GET, "/api/v1/command_executions"): Op(
        EXECUTION, "List command executions", 200, "CommandExecution", (400,),
        listing=command_executions.SPEC),
    (_GET, "/api/v1/command_executions/{id}"): Op(
        EXECUTION, "Get a specific command execution", 200, "CommandExecution", (400, 404)),
    (_DELETE, "/api/v1/command_executions/{id}"): Op(
        EXECUTION, "Delete a command execution", 204, None, (400, 404, 409),
        description="Only completed, cancelled, or expired executions can be deleted; pending"
        " or sent ones return 409."),
    (_PATCH, "/api/v1/command_executions/{id}/cancel"): Op(
        EXECUTION, "Cancel a command execution", 200, "CancelExecutionData",
        (400, 404, 409),
        description="`pending`: cancelled at once (the command never ran). `sent`: the agent"
        " is asked on its next poll and stays the source of truth: exit code 143 means it"
        " honoured the cancellation (`cancelled`); any other result means the command had"
        " finished (`completed`). Terminal executions (completed, cancelled, expired) return"
        " 409. Results that arrive after a cancel or an expiry are ignored."),
    (_POST, "/api/v1/self_update_requests"): Op(
        SELF_UPDATE, "Create a new self-update request", 201, "SelfUpdateRequest", (400, 422),
        CreateSelfUpdateRequest,
        description="Created `pending`; processed asynchronously (`processing`, then"
        " `completed` with its summary). Only healthy nodes with self_update_enabled=true are"
        " updated: those filters are merged into the stored targeting, and asking for other"
        " values is a 422. Each triggered node emits edge.node.update_triggered; completion"
        " emits edge.self_update_request.completed."),
    (_GET, "/api/v1/self_update_requests"): Op(
        SELF_UPDATE, "List all self-update requests", 200, "SelfUpdateRequest", (400,),
        listing=self_update_requests.SPEC),
    (_GET, "/api/v1/self_update_requests/{id}"): Op(
        SELF_UPDATE, "Get a specific self-update request", 200, "SelfUpdateRequest",
        (400, 404)),
    (_DELETE, "/api/v1/self_update_requests/{id}"): Op(
        SELF_UPDATE, "Delete a self-update request", 204, None, (400, 404, 409),
        description="Only completed requests can be deleted; pending or processing ones"
        " return 409."),
}

_WILD = "(exact match or wildcard: {})"
QUERY_DOCS: dict[str, dict[str, str]] = {
    "/api/v1/commands": {
        "command_text": "Filter by command text " + _WILD.format("ls, docker*, etc."),
        "has_expired_at": "true returns commands with expired_at, false returns commands"
        " without",
        "has_timeout": "true returns commands with a timeout, false returns commands without",
    },
    "/api/v1/command_executions": {
        "cluster_name": "Filter by cluster name via node's cluster "
        + _WILD.format("prod, staging*, etc."),
        "command_id": "Filter by command ID",
        "exit_code": "Filter by exact exit code",
        "has_cluster": "true = executions of commands that targeted exactly one cluster",
        "has_output": "true returns executions with output, false returns executions with no"
        " output",
        "node_id": "Filter by node ID",
        "output": "Search in output " + _WILD.format("error, *failed*, etc."),
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
        "expired_at": "Deadline after which pending/sent executions are automatically"
        " expired. Must be in the future. Immutable after creation.",
    }),
    "CreateSelfUpdateRequest": ("SelfUpdateRequestCreateRequest", {
        "targeting": "Which nodes to update (same format as commands)",
    }),
}
