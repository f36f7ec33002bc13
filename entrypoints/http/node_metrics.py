"""Nodes.Metrics (E27-E29) and the agent's report (POST /agent/v1/metrics).

Agents push their figures (they may sit behind NAT, so the admin does not scrape them); the
admin keeps the latest per node in the shared database, so any admin answers. 503 when the node
has not reported yet, is unreachable, or its last report is older than
NODE_UNREACHABLE_AFTER_SECONDS. E28 is flat and E29 carries `data`, as the seed shows them.
Host figures are typed as the agent reports them (application/agent_protocol.py HostReport); the
agent's own groups stay free-form maps: each agent version counts what it counts, and the admin
keeps whatever a valid report held.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import MetricsBody
from application.ports import MetricsReport
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import (
    agent_body,
    known_bearer,
    path_uuid,
    services,
)
from entrypoints.http.openapi.admins import NODE_METRICS, NULL_NOTE
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.responses import JSONResponse, ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, Shape, described
from projections.fleet_tables import NodeRecord

_d = described

NodeId = Annotated[UUID, _d("Node ID")]
ClusterName = Annotated[str, _d("The node's cluster")]
Received = Annotated[Moment, _d("When the admin received the agent's report")]
Count = int | None
Amount = float | None


class CpuFigures(Shape):
    """CPU cores, load averages and usage (null: not readable)"""

    cores: Annotated[Count, _d("CPU cores")]
    load_1m: Annotated[Amount, _d("Load average over 1 minute")]
    load_5m: Annotated[Amount, _d("Load average over 5 minutes")]
    load_15m: Annotated[Amount, _d("Load average over 15 minutes")]
    usage_percent: Annotated[Amount, _d("CPU usage in percent")]


class UsageFigures(Shape):
    """Space of memory or of the disk of / (null: not readable)"""

    available_bytes: Annotated[Count, _d("Available bytes")]
    available_gb: Annotated[Amount, _d("Available GB")]
    total_bytes: Annotated[Count, _d("Total bytes")]
    total_gb: Annotated[Amount, _d("Total GB")]
    usage_percent: Annotated[Amount, _d("(total - available) / total * 100")]
    used_bytes: Annotated[Count, _d("total - available, in bytes")]
    used_gb: Annotated[Amount, _d("total - available, in GB")]


class UptimeFigures(Shape):
    """Time since the host booted (null: not readable)"""

    human: Annotated[str | None, _d("Human-readable (e.g. '1d 2h 30m')")]
    seconds: Annotated[Count, _d("Seconds since boot")]


Cpu = Annotated[CpuFigures | None, _d("CPU figures read by the agent from /proc (null if"
                                      " unreadable)")]
Disk = Annotated[UsageFigures | None, _d("Disk of / (null if unreadable)")]
Memory = Annotated[UsageFigures | None, _d("Memory figures from /proc (null if unreadable)")]
Uptime = Annotated[UptimeFigures | None, _d("Uptime from /proc (null if unreadable)")]
Group = Annotated[dict[str, Any] | None, _d(
    "The agent's own counters of this group, as its version reports them (null if it sent"
    " none)")]
NoGroup = Annotated[dict[str, Any] | None, _d("The agent's group; edge-agent has none (null)")]
Queues = Annotated[list[dict[str, Any]] | None, _d(
    "The agent's job queues; edge-agent has none (null)")]


class HostGroups(Shape):
    """The host groups of a node's latest report"""

    cpu: Cpu
    disk: Disk
    memory: Memory
    uptime: Uptime


class AgentGroups(Shape):
    """The agent's own groups of a node's latest report"""

    application: Group
    commands: Group
    discovery: NoGroup
    health_check: NoGroup
    oban_queues: Queues
    proxy: NoGroup
    ssh: Group
    vpn: NoGroup


class HostMetricsResponse(HostGroups):
    """Host figures (flat, as the seed shows them)"""

    node_id: NodeId
    cluster_name: ClusterName
    timestamp: Received


class AgentMetricsResponse(AgentGroups):
    """The agent's own counters"""

    node_id: NodeId
    cluster_name: ClusterName
    timestamp: Received


class HostSource(HostGroups):
    """The host part of a node's report"""

    available: Annotated[bool, _d("Whether the agent could read any host figure")]


class AgentSource(AgentGroups):
    """The agent part of a node's report"""

    available: Annotated[bool, _d("Whether the agent sent any of its groups")]


class UnifiedMetricsResponse(Shape):
    """Host and agent figures from the node's latest report"""

    node_id: NodeId
    cluster_name: ClusterName
    timestamp: Received
    host: HostSource
    agent: AgentSource


class AgentMetricsReceiptResponse(Shape):
    """The report was stored"""

    received_at: Annotated[Moment, _d("When the admin received it")]


SHAPES = (HostMetricsResponse, AgentMetricsResponse, UnifiedMetricsResponse,
          AgentMetricsReceiptResponse)
F = TypeVar("F", bound=Shape)


async def report(request: Request) -> Response:
    token, body = await agent_body(request, MetricsBody)
    svc = services(request)
    at = svc.writes.clock.now()
    await known_bearer(request, await svc.node_metrics.put_by_token_async(
        token, at, msgspec.to_builtins(body.host), msgspec.to_builtins(body.agent)))
    return ok(request, AgentMetricsReceiptResponse(received_at=at))


def _latest(request: Request) -> tuple[NodeRecord, MetricsReport]:
    svc = services(request)
    node_id = path_uuid(request, "node_id")
    node = svc.fleet_reads.nodes.get(node_id)
    if node is None:
        raise ApiError(404, None, "node not found")
    found = svc.node_metrics.latest(node_id)
    if found is None:
        raise ApiError(503, None, "the node has not reported metrics yet")
    if node.status == "unreachable":
        raise ApiError(503, None, "the node is unreachable")
    limit = timedelta(seconds=svc.settings.node_unreachable_after)
    if svc.writes.clock.now() - found.received_at > limit:
        raise ApiError(503, None, "the node is unreachable: its last metrics are older than "
                                  f"{int(limit.total_seconds())} s")
    return node, found


def _figures(shape: type[F], stored: Any) -> F | None:
    """A stored host group as its shape; a field an older report lacked is null."""
    if stored is None:
        return None
    return msgspec.convert({f: stored.get(f) for f in shape.__struct_fields__}, shape)


def _host(found: MetricsReport) -> dict[str, Any]:
    host = found.host
    return {"cpu": _figures(CpuFigures, host.get("cpu")),
            "disk": _figures(UsageFigures, host.get("disk")),
            "memory": _figures(UsageFigures, host.get("memory")),
            "uptime": _figures(UptimeFigures, host.get("uptime"))}


def _agent(found: MetricsReport) -> dict[str, Any]:
    return {g: found.agent.get(g) for g in AgentGroups.__struct_fields__}


def _available(groups: dict[str, Any]) -> bool:
    """Whether the agent could read or sent any of them (not on a sandbox or non-Linux host)."""
    return any(group is not None for group in groups.values())


async def host(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    return JSONResponse(HostMetricsResponse(
        node_id=node.id, cluster_name=node.cluster_name, timestamp=found.received_at,
        **_host(found)))


async def agent(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    return ok(request, AgentMetricsResponse(
        node_id=node.id, cluster_name=node.cluster_name, timestamp=found.received_at,
        **_agent(found)))


async def unified(request: Request) -> Response:
    node, found = await run_in_threadpool(_latest, request)
    host, agent = _host(found), _agent(found)
    return ok(request, UnifiedMetricsResponse(
        node_id=node.id, cluster_name=node.cluster_name, timestamp=found.received_at,
        host=HostSource(available=_available(host), **host),
        agent=AgentSource(available=_available(agent), **agent)))


_UNAVAILABLE = (" 503 when the node has not reported yet, is unreachable, or its last report is"
                " older than NODE_UNREACHABLE_AFTER_SECONDS.")

ROUTES = [
    route("GET", "/api/v1/nodes/{node_id}/metrics", unified, Op(
        NODE_METRICS, "Get unified metrics for a node", 200, "UnifiedMetrics", (400, 404, 503),
        description="Host and agent figures from the node's latest report." + _UNAVAILABLE)),
    route("GET", "/api/v1/nodes/{node_id}/metrics/host", host, Op(
        NODE_METRICS, "Get host metrics for a node", 200, "HostMetrics", (400, 404, 503),
        flat=True, description="Not wrapped in {data, meta}, as in the seed." + _UNAVAILABLE)),
    route("GET", "/api/v1/nodes/{node_id}/metrics/agent", agent, Op(
        NODE_METRICS, "Get agent metrics for a node", 200, "AgentMetrics", (400, 404, 503),
        description="The agent's counters." + NULL_NOTE + _UNAVAILABLE)),
    route("POST", "/agent/v1/metrics", report, Op(
        AGENT, "Report the node's host and agent metrics", 200, "AgentMetricsReceipt",
        (400, 422), MetricsBody, security=NODE_TOKEN,
        description="Sent by the agent every --metrics-interval seconds; the admin keeps the"
        " latest report per node.")),
]
