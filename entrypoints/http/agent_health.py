"""The agent's health observations of its deployments' containers (issue 17): sent when a
deployment's health changes, as a periodic heartbeat of an unchanged state, in answer to a live
probe, and when its container ends. Kept for the resource the deployment belongs to
(application/resource_health.py); any other deployment's are accepted and not kept."""

from __future__ import annotations

from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import HealthObservation, HealthObservationReply
from entrypoints.http.inputs import agent_report_async, services
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape, described


class AgentHealthObservationResponse(HealthObservationReply, Shape):
    """Received"""

    recorded: Annotated[bool, described(
        "false: the deployment is no resource's, nothing was kept")]


SHAPES = (AgentHealthObservationResponse,)


async def observe(request: Request) -> Response:
    request_id, recorded = await agent_report_async(
        request, HealthObservation, services(request).resource_health.record_async)
    return ok(request, AgentHealthObservationResponse(request_id=request_id,
                                                      recorded=recorded))


ROUTES = [
    route("POST", "/agent/v1/deployments/{request_id}/health", observe, Op(
        AGENT, "Report a deployment's health", 200, "AgentHealthObservation",
        (400, 404, 422), HealthObservation, security=NODE_TOKEN,
        description="On a change of its health, as a heartbeat of an unchanged state, in"
        " answer to a live probe (probe_id), and when its container ends.")),
]
