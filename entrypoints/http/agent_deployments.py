"""The deployment part of the agent API: the agent's reports on its containers and its host.
What a node should start or stop is answered inside the work poll (application/
deployment_work.py).

The replies are the protocol's reply structs (what the agent decodes), renamed for the OpenAPI
document, which takes their schemas from SHAPES."""

from __future__ import annotations

from typing import Annotated

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import (
    AgentHostReport,
    DeploymentProgress,
    DeploymentProgressReply,
    DeploymentReply,
    DeploymentReport,
    DeploymentTelemetry,
    HostReply,
    TelemetryReply,
)
from entrypoints.http.inputs import (
    agent_node,
    agent_report,
    agent_report_async,
    read_body,
    services,
)
from entrypoints.http.looks import looks
from entrypoints.http.looks import progress as progress_of
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, Shape, described


class AgentDeploymentReportResponse(DeploymentReply, Shape):
    """The deployment's status after the report"""

    status: Annotated[str, described("Status.READY, Status.ERROR, Status.TERMINATED, ...")]


class AgentTelemetryResponse(TelemetryReply, Shape):
    """Recorded"""

    received_at: Moment  # type: ignore[assignment]  # the agent reads the RFC 3339 text


class AgentHostResponse(HostReply, Shape):
    """Recorded"""

    images: Annotated[int, described("Distinct image references recorded")]


class AgentProgressResponse(DeploymentProgressReply, Shape):
    """Received"""

    recorded: Annotated[bool, described(
        "false: the deployment has every progress line the admin keeps of it (64)")]


SHAPES = (AgentDeploymentReportResponse, AgentTelemetryResponse, AgentHostResponse,
          AgentProgressResponse)


async def report(request: Request) -> Response:
    request_id, status = await agent_report(request, DeploymentReport,
                                            services(request).deployments.report)
    return ok(request, AgentDeploymentReportResponse(request_id=request_id, status=status))


async def host_report(request: Request) -> Response:
    node = await agent_node(request)
    body = await read_body(request, AgentHostReport)
    hosts = services(request).hosts
    if not await hosts.report_unchanged_async(node.id, body):
        await run_in_threadpool(hosts.report, node.id, body)
    return ok(request, AgentHostResponse(node_id=node.id, images=len(set(body.images))))


async def telemetry(request: Request) -> Response:
    request_id, received = await agent_report_async(request, DeploymentTelemetry,
                                                    services(request).telemetry.record_async)
    return ok(request, AgentTelemetryResponse(request_id=request_id, received_at=received))


async def progress(request: Request) -> Response:
    request_id, recorded = await agent_report(request, DeploymentProgress,
                                              services(request).telemetry.progress)
    if recorded:  # its deployment's streams here send it at once
        looks(request).touched(progress_of(request_id))
    return ok(request, AgentProgressResponse(request_id=request_id, recorded=recorded))


ROUTES = [
    route("POST", "/agent/v1/deployments/{request_id}/report", report, Op(
        AGENT, "Report a deployment's container", 200, "AgentDeploymentReport",
        (400, 404, 422), DeploymentReport, security=NODE_TOKEN,
        description="ready (with its ports), error (with an exit code) or terminated.")),
    route("POST", "/agent/v1/host", host_report, Op(
        AGENT, "Report the node's placement profile and cached images", 200, "AgentHost",
        (400, 404, 422), AgentHostReport, security=NODE_TOKEN,
        description="Flags given to the agent (location, capacity, fleet) are recorded; the"
        " capacity it detected is used only while none is set. `images` replaces the list"
        " used by require_cached_locations.")),
    route("POST", "/agent/v1/deployments/{request_id}/telemetry", telemetry, Op(
        AGENT, "Send a container's log tail and a resource sample", 200, "AgentTelemetry",
        (400, 404, 422), DeploymentTelemetry, security=NODE_TOKEN)),
    route("POST", "/agent/v1/deployments/{request_id}/progress", progress, Op(
        AGENT, "Report a step of a deployment's start", 200, "AgentProgress",
        (400, 404, 422), DeploymentProgress, security=NODE_TOKEN,
        description="While it starts: the image pulled or found, the container started, a"
        " health probe's result. At most 64 lines are kept per deployment (`recorded`"
        " false past them); they show in GET /deployments/{id}/logs and its events stream.")),
]
