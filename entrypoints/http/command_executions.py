"""Commands.CommandExecution endpoints: list, get, delete (finished only), cancel."""

from __future__ import annotations

from typing import Annotated

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from domain.command_execution import CancelOutcome, ExecutionStatus
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    boolean,
    exact,
    int_range,
    one_of,
    parse_uuid,
    presence,
    text,
    time_range,
)
from entrypoints.http.openapi.commands import EXECUTION
from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import has_filter, wildcard
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape, described

SPEC = ListSpec(
    params=(
        *STANDARD,
        *time_range("cancelled_at"),
        *time_range("completed_at"),
        *time_range("sent_at"),
        # The seed: "via node's cluster" (where the node is now), not the targeted cluster.
        text("cluster_name", "node_cluster_name"),
        exact("command_id", parse_uuid),
        exact("node_id", parse_uuid),
        *int_range("exit_code", with_exact=True),
        presence("has_cluster", "cluster_name"),
        presence("has_output", "output"),
        text("output"),
        exact("status", one_of(*(s.value for s in ExecutionStatus))),
        boolean("target_all"),
    ),
    sortable=("status", "exit_code", "sent_at", "completed_at", "cancelled_at", "expired_at",
              "inserted_at", "updated_at"),
    docs={
        "cluster_name": "Filter by cluster name via node's cluster (its current one) "
        + wildcard("prod, staging*, etc."),
        "command_id": "Filter by command ID",
        "exit_code": "Filter by exact exit code",
        "exit_code__gte": "Filter executions with exit code greater than or equal to this"
        " value (e.g. 1 for all failures)",
        "exit_code__lte": "Filter executions with exit code less than or equal to this value",
        "has_cluster": "Filter by cluster_name presence (true = executions of a command that"
        " targeted exactly one cluster, false = all, nodes or multi-cluster targeting)",
        "has_output": has_filter("output", "executions", "output"),
        "node_id": "Filter by node ID",
        "output": "Text search in output " + wildcard("error, *failed*, etc."),
        "status": "Filter by execution status",
        "target_all": "Filter by target_all flag",
    },
)


class CancelExecutionDataResponse(Shape):
    """Cancellation request status"""

    result: Annotated[CancelOutcome, described(
        "`cancelled` for a pending execution, `cancellation request sent` for a sent one")]


SHAPES = (CancelExecutionDataResponse,)


RESOURCE = Resource(__name__, lambda svc: svc.command_reads.executions,
                    each(serializers.command_execution), SPEC)
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.commands.delete_execution(key))


async def cancel(request: Request) -> Response:
    result = await run_in_threadpool(services(request).commands.cancel_execution,
                                     path_uuid(request))
    return ok(request, CancelExecutionDataResponse(result=result))


_NODE_GONE = (" When a node is deleted its executions stay with node_id null; the open ones"
              " (pending, sent) end `cancelled` in the same transaction.")
_LATE = (" Final states never change: a result the agent reports after a cancel or an expiry"
         " is acknowledged and dropped.")

ROUTES = [
    route("GET", "/api/v1/command_executions", index, Op(
        EXECUTION, "List command executions", 200, "CommandExecution", (400,),
        listing=SPEC,
        description="Returns a paginated list of command executions with filtering and"
        " sorting. The `cluster_name` filter follows the node's current cluster (it moves"
        " with PATCH /nodes/{id}/change_cluster), while the `cluster_name` field is the"
        " cluster the command named." + _NODE_GONE)),
    route("GET", "/api/v1/command_executions/{id}", show, Op(
        EXECUTION, "Get a specific command execution", 200, "CommandExecution", (400, 404),
        description="Returns details for a specific command execution by ID." + _NODE_GONE
        + _LATE + " Open executions also end `expired` once the command's expired_at passes,"
        " or when their node stays unreachable longer than EXECUTION_UNREACHABLE_GRACE_SECONDS.")),
    route("DELETE", "/api/v1/command_executions/{id}", delete, Op(
        EXECUTION, "Delete a command execution", 204, None, (400, 404, 409),
        description="Delete a specific command execution (emits"
        " edge.command_execution.pruned). Only completed, cancelled, or expired executions"
        " can be deleted; pending or sent ones return 409.")),
    route("PATCH", "/api/v1/command_executions/{id}/cancel", cancel, Op(
        EXECUTION, "Cancel a command execution", 200, "CancelExecutionData",
        (400, 404, 409),
        description="`pending`: cancelled at once (the command never ran); result"
        " `cancelled`. `sent`: the agent is asked on its next poll (result `cancellation"
        " request sent`, also when asked again) and stays the source of truth: exit code 143"
        " means it honoured the cancellation (`cancelled`), 137 that the agent stopped or died"
        " while the command ran, before it could (`cancelled` too: the command never"
        " finished); any other result means the command had finished (`completed`). Poll the"
        " execution to see the outcome."
        " Terminal executions (completed, cancelled, expired) return 409." + _LATE)),
]
