"""Commands.CommandExecution endpoints: list, get, delete (finished only), cancel."""

from __future__ import annotations

from typing import Annotated

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.command_execution import CancelOutcome, ExecutionStatus
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
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
from entrypoints.http.responses import ok
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


ROUTES = [
    *routes("/api/v1/command_executions", "/api/v1/command_executions/{id}", index=index,
            show=show, delete=delete),
    Route("/api/v1/command_executions/{id}/cancel", cancel, methods=["PATCH"]),
]
