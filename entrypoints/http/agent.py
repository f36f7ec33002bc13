"""Agent API (/agent/v1): enrollment with a key, then calls authenticated by the node's api_token.

Not in the Edge Admin seed (which implies but does not document it); same envelope and errors.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.agent_protocol import EnrollNode, Heartbeat, ReregisterNode
from domain.node import NodeStatus
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import node_for_token, read_body, services
from entrypoints.http.responses import ok


def _agent_view(request: Request, node_id: UUID, api_token: str | None = None) -> dict[str, Any]:
    svc = services(request)
    row = svc.view.get("nodes", node_id)
    settings = svc.settings
    body = {
        "node_id": node_id,
        "cluster_name": row["cluster_name"] if row else None,
        "status": row["status"] if row else None,
        "version": row["version"] if row else None,
        "heartbeat_interval_seconds": settings.heartbeat_interval,
    }
    if api_token is not None:
        body["api_token"] = api_token
    return body


async def enroll(request: Request) -> Response:
    cmd = await read_body(request, EnrollNode)
    enrolled = await run_in_threadpool(services(request).nodes.enroll, cmd)
    body = await run_in_threadpool(_agent_view, request, enrolled.node_id, enrolled.api_token)
    body["reregistered"] = enrolled.reregistered
    return ok(request, body, 200 if enrolled.reregistered else 201)


async def register(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    cmd = await read_body(request, ReregisterNode)
    await run_in_threadpool(services(request).nodes.reregister, node["id"], cmd)
    return ok(request, await run_in_threadpool(_agent_view, request, node["id"]))


async def heartbeat(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    beat = await read_body(request, Heartbeat)
    if beat.status == NodeStatus.UNREACHABLE.value:
        raise ApiError(422, {"status": ["must be healthy or unhealthy"]})
    status = await run_in_threadpool(services(request).nodes.heartbeat, node["id"],
                                     NodeStatus(beat.status))
    services(request).counters.add("nodes.health_checks_total")
    body = {"node_id": node["id"], "status": status,
            "heartbeat_interval_seconds": services(request).settings.heartbeat_interval}
    return ok(request, body)


ROUTES = [
    Route("/agent/v1/enroll", enroll, methods=["POST"]),
    Route("/agent/v1/register", register, methods=["POST"]),
    Route("/agent/v1/heartbeat", heartbeat, methods=["POST"]),
]
