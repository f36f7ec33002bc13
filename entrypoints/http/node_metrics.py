"""Nodes.Metrics (E27-E29) and the agent's report (POST /agent/v1/metrics).

Agents push their figures (they may sit behind NAT, so the admin does not scrape them); the
admin keeps the latest per node in the shared database, so any admin answers. 503 when the node
has not reported yet, is unreachable, or its last report is older than
NODE_UNREACHABLE_AFTER_SECONDS. E28 is flat and E29 carries `data`, as the seed shows them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.agent_protocol import AgentReport, MetricsBody
from application.ports import MetricsReport
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import node_for_token, path_uuid, read_body, services
from entrypoints.http.responses import JSONResponse, ok

HOST_GROUPS = ("cpu", "disk", "memory", "uptime")
AGENT_GROUPS = tuple(AgentReport.__struct_fields__)


async def report(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    body = await read_body(request, MetricsBody)
    svc = services(request)
    at = svc.writes.clock.now()
    stored = MetricsReport(node["id"], at, msgspec.to_builtins(body.host),
                           msgspec.to_builtins(body.agent))
    await run_in_threadpool(svc.node_metrics.put, stored)
    return ok(request, {"received_at": at})


def _latest(request: Request) -> tuple[dict[str, Any], MetricsReport]:
    svc = services(request)
    node_id = path_uuid(request, "node_id")
    node = svc.view.get("nodes", node_id)
    if node is None:
        raise ApiError(404, None, "node not found")
    found = svc.node_metrics.latest(node_id)
    if found is None:
        raise ApiError(503, None, "the node has not reported metrics yet")
    if node["status"] == "unreachable":
        raise ApiError(503, None, "the node is unreachable")
    limit = timedelta(seconds=svc.settings.node_unreachable_after)
    if svc.writes.clock.now() - found.received_at > limit:
        raise ApiError(503, None, "the node is unreachable: its last metrics are older than "
                                  f"{int(limit.total_seconds())} s")
    return node, found


def _head(node: dict[str, Any], found: MetricsReport) -> dict[str, Any]:
    return {"node_id": node["id"], "cluster_name": node["cluster_name"],
            "timestamp": found.received_at}


async def host(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    return JSONResponse({**_head(node, found), **{g: found.host.get(g) for g in HOST_GROUPS}})


async def agent(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    return ok(request, {**_head(node, found), **{g: found.agent.get(g) for g in AGENT_GROUPS}})


async def unified(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    hosts = {g: found.host.get(g) for g in HOST_GROUPS}
    agents = {g: found.agent.get(g) for g in AGENT_GROUPS}
    # A source is unavailable when the agent could read none of it (not Linux, a sandbox).
    return ok(request, {
        **_head(node, found),
        "host": {"available": any(v is not None for v in hosts.values()), **hosts},
        "agent": {"available": any(v is not None for v in agents.values()), **agents},
    })


ROUTES = [
    Route("/api/v1/nodes/{node_id}/metrics", unified, methods=["GET"]),
    Route("/api/v1/nodes/{node_id}/metrics/host", host, methods=["GET"]),
    Route("/api/v1/nodes/{node_id}/metrics/agent", agent, methods=["GET"]),
    Route("/agent/v1/metrics", report, methods=["POST"]),
]
