"""The agent's side of a resource's runtime logs: POST /agent/v1/deployments/{request_id}/
runtime-logs takes the lines a running container wrote since the last batch (application/
runtime_logs.py masks and stores them, once: the batch says where it starts) and wakes this
process's log readers and streams (entrypoints/http/looks.py); those of other processes see the
deployment's head move."""

from __future__ import annotations

from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import RuntimeLogBatch, RuntimeLogReply
from entrypoints.http.inputs import agent_report, services
from entrypoints.http.looks import logs, looks
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape, described


class AgentRuntimeLogResponse(RuntimeLogReply, Shape):
    """Stored"""

    last_sequence: Annotated[int, described("The sequence of the batch's last line")]


SHAPES = (AgentRuntimeLogResponse,)


async def runtime_logs(request: Request) -> Response:
    request_id, last = await agent_report(request, RuntimeLogBatch,
                                          services(request).runtime_logs.append)
    looks(request).touched(logs(request_id))  # its followers here read at once
    return ok(request, AgentRuntimeLogResponse(request_id=request_id, last_sequence=last))


ROUTES = [
    route("POST", "/agent/v1/deployments/{request_id}/runtime-logs", runtime_logs, Op(
        AGENT, "Send the lines a running container wrote", 200, "AgentRuntimeLog", (400, 404, 422),
        RuntimeLogBatch, security=NODE_TOKEN,
        description="The lines since the last batch, oldest first (at most 500, each at most"
        " 8192 characters); the admin masks secret values and numbers them. `after` says where"
        " the batch starts (each line's place among its stream's lines stamped as it): lines"
        " the admin holds already (a batch sent again, its answer lost; an agent that"
        " restarted) are not stored again. Without it, as before it: the lines stamped as the"
        " last one stored are stored again.")),
]
