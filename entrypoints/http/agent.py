"""Agent API (/agent/v1): enrollment with a key, then calls authenticated by the node's api_token.

Not in the Edge Admin seed (which implies but does not document it); same envelope and errors.
The answers are closed shapes (every field always present); the agent decodes the same JSON with
the more tolerant reply structs of application/agent_protocol.py.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import EnrollNode, Heartbeat, ReregisterNode
from domain.node_status import NodeStatus
from entrypoints.http.crud import written_as
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import (
    agent_body,
    agent_node,
    known_bearer,
    read_body,
    services,
)
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, PUBLIC, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Shape, described

NodeId = Annotated[UUID, described("The node's ID")]
Interval = Annotated[float, described("Send a heartbeat this often (seconds)")]
ClusterName = Annotated[str | None, described("The node's cluster; null if it was just deleted")]
Status = Annotated[NodeStatus | None, described("The node's status; null if it was just "
                                                "deleted")]
Version = Annotated[str | None, described("The agent version the node reported")]


class AgentNodeResponse(Shape):
    """The node as the agent sees it"""

    node_id: NodeId
    cluster_name: ClusterName
    status: Status
    version: Version
    heartbeat_interval_seconds: Interval


class AgentEnrollmentResponse(AgentNodeResponse):
    """What an agent needs after enrolling; keep api_token, it is shown only here"""

    api_token: Annotated[str, described("Bearer token for the other agent endpoints")]
    reregistered: Annotated[bool, described(
        "True when an existing persistent node re-enrolled")]


class AgentHeartbeatResponse(Shape):
    """Status recorded for the heartbeat"""

    node_id: NodeId
    status: Annotated[NodeStatus, described("The node's status after this heartbeat")]
    heartbeat_interval_seconds: Interval


SHAPES = (AgentNodeResponse, AgentEnrollmentResponse, AgentHeartbeatResponse)


class _Written(msgspec.Struct):
    """The node's own columns an agent is told, from the row its write's commit left (the
    node's record also joins its liveness, which no commit tells)."""

    cluster_name: str
    status: NodeStatus
    version: str | None


def _as_written(row: dict[str, Any]) -> _Written:
    return msgspec.convert(row, _Written)


async def _agent_view(request: Request, node_id: UUID, written: bool = False
                      ) -> AgentNodeResponse:
    """written: just after this request's own write, whose commit may tell the row (no read)."""
    svc = services(request)
    reads = svc.fleet_reads.nodes
    known = written_as(reads.table, node_id, _as_written) if written else None
    row = known if known is not None else await reads.get_async(node_id)
    return AgentNodeResponse(
        node_id=node_id,
        cluster_name=row.cluster_name if row else None,
        status=row.status if row else None,
        version=row.version if row else None,
        heartbeat_interval_seconds=svc.settings.heartbeat_interval,
    )


async def enroll(request: Request) -> Response:
    cmd = await read_body(request, EnrollNode)
    enrolled = await services(request).nodes.enroll_async(cmd)
    seen = await _agent_view(request, enrolled.node_id, written=True)
    body = AgentEnrollmentResponse(**msgspec.structs.asdict(seen), api_token=enrolled.api_token,
                                   reregistered=enrolled.reregistered)
    return ok(request, body, 200 if enrolled.reregistered else 201)


async def register(request: Request) -> Response:
    node = await agent_node(request)
    cmd = await read_body(request, ReregisterNode)
    await run_in_threadpool(services(request).nodes.reregister, node.id, cmd)
    return ok(request, await _agent_view(request, node.id))


def _reachable(beat: Heartbeat) -> None:
    if beat.status == NodeStatus.UNREACHABLE.value:
        raise ApiError(422, {"status": ["must be healthy or unhealthy"]})


async def heartbeat(request: Request) -> Response:
    token, beat = await agent_body(request, Heartbeat, _reachable)
    seen = await known_bearer(request, await services(request).nodes.heartbeat_async(
        token, NodeStatus(beat.status)))
    services(request).counters.add("nodes.health_checks_total")
    return ok(request, AgentHeartbeatResponse(
        node_id=seen.node_id, status=NodeStatus(seen.status),
        heartbeat_interval_seconds=services(request).settings.heartbeat_interval))


ROUTES = [
    route("POST", "/agent/v1/enroll", enroll, Op(
        AGENT, "Enroll a node with an enrollment key", 201, "AgentEnrollment",
        (400, 401, 403, 409, 422, 503), EnrollNode, security=PUBLIC, also=(200,),
        description="Consumes one use of the key. 201 for a new node; 200 when a persistent"
        " node re-enrolls. 401: unknown key; 403: key expired, spent or its cluster deleted;"
        " 409: the cluster is at its node_limit.")),
    route("POST", "/agent/v1/register", register, Op(
        AGENT, "Re-register a node after a restart", 200, "AgentNode", (400, 404, 422, 503),
        ReregisterNode, security=NODE_TOKEN)),
    route("POST", "/agent/v1/heartbeat", heartbeat, Op(
        AGENT, "Report the node's liveness", 200, "AgentHeartbeat", (400, 404, 422, 503),
        Heartbeat, security=NODE_TOKEN)),
]
