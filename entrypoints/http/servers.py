"""Appaloft's /servers as a view of the enrolled edge nodes: a server's id is its node's id.

Registering stays enrollment (an agent with an enrollment key); nothing here writes. A server's
rollups count the attempts of resources placed on its node.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from domain.node_status import NodeStatus
from domain.shared import node_name, node_vpn_hostname
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    LimitQuery,
    NoQuery,
    Query,
    Reads,
    answer,
    found,
    generated_at,
    read_query,
    run,
)
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import COUNT_DATA, SERVER, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from projections.fleet_tables import NodeRecord
from projections.query import ListQuery, Order

_d = described
ROLLUP_SCAN = 10_000  # attempts read for a rollup; the total is counted apart
_READS = Reads(__name__)


class ServerShowQuery(Query):
    include_rollups: Annotated[bool, _d("Count the attempts placed on it (default true)")] = True


class ServerResponse(AppaloftShape):
    """A deployment target: an enrolled edge node"""

    id: Annotated[UUID, _d("The node's id")]
    name: Annotated[str, _d("node-<id>")]
    host: Annotated[str, _d("The node's VPN hostname")]
    port: Annotated[int, _d("The node's SSH port")]
    provider_key: Literal["edge-agent"]
    target_kind: Literal["single-server"]
    lifecycle_status: Annotated[Literal["active"], _d("Enrolled nodes are active; a deleted"
                                                      " node is no server")]
    deactivated_at: None
    deactivation_reason: None
    edge_proxy: Annotated[None, _d("Not managed here: null")]
    credential: Annotated[None, _d("Agents need no SSH credential: null")]
    created_at: Moment
    node_status: Annotated[NodeStatus, _d("The node's health as its agent last reported")]
    cluster_name: str
    last_seen_at: Moment | None


class ServerListResponse(AppaloftShape):
    """Servers, oldest first"""

    items: list[ServerResponse]


class StatusCount(AppaloftShape):
    status: str
    count: int


class ResourceRollup(AppaloftShape):
    total: int
    deployed_resource_ids: list[UUID]


class DeploymentRollup(AppaloftShape):
    total: int
    status_counts: list[StatusCount]
    latest_deployment_id: UUID | None
    latest_deployment_status: str | None


class DomainRollup(AppaloftShape):
    """No domain bindings here: always none"""

    total: Literal[0]
    status_counts: list[StatusCount]
    latest_domain_binding_id: None
    latest_domain_binding_status: None


class ServerRollups(AppaloftShape):
    resources: ResourceRollup
    deployments: DeploymentRollup
    domains: DomainRollup


class ServerShowResponse(AppaloftShape):
    """One server with the attempts placed on it"""

    schema_version: Literal["servers.show/v1"]
    server: ServerResponse
    rollups: ServerRollups | None
    generated_at: Moment


_NOT_MEASURED = _d("Always 0: nothing is measured, the check reads what the agent last sent")


class ConnectivityCheck(AppaloftShape):
    name: Annotated[Literal["agent-reachable", "agent-healthy"], _d(
        "agent-reachable: its heartbeats arrive; agent-healthy: it reports itself healthy")]
    status: Literal["passed", "failed"]
    message: str
    duration_ms: Annotated[Literal[0], _NOT_MEASURED]
    metadata: Annotated[dict[str, str], _d("lastSeenAt and nodeStatus as the admin knows them")]


class ConnectivityTestResponse(AppaloftShape):
    """What the server's agent last told the admin (the admin never connects to a server)"""

    server_id: UUID
    name: str
    host: str
    port: int
    provider_key: Literal["edge-agent"]
    checked_at: Moment
    status: Annotated[Literal["healthy", "degraded", "unreachable"], _d(
        "healthy: both checks pass; degraded: it is reached but reports itself unhealthy;"
        " unreachable: its heartbeats stopped (the admin's sweep decides it)")]
    checks: list[ConnectivityCheck]


SHAPES = (ServerResponse, ServerListResponse, ServerShowResponse, ConnectivityTestResponse)


def shape(node: NodeRecord) -> ServerResponse:
    return ServerResponse(
        id=node.id, name=node_name(node.id), host=node_vpn_hostname(node.id, node.cluster_name),
        port=node.ssh_port, provider_key="edge-agent", target_kind="single-server",
        lifecycle_status="active", deactivated_at=None, deactivation_reason=None,
        edge_proxy=None, credential=None, created_at=node.inserted_at, node_status=node.status,
        cluster_name=node.cluster_name, last_seen_at=node.last_seen_at)


def _list(svc: Services, query: LimitQuery) -> ServerListResponse:
    listing = ListQuery(order=(Order("inserted_at"), Order("id")), page_size=query.limit,
                        count=False)
    return ServerListResponse(
        items=[shape(n) for n in svc.fleet_reads.nodes.page(listing).records])


def _rollups(svc: Services, server_id: UUID) -> ServerRollups:
    reads = svc.resource_reads
    attempts = reads.attempts_on_server(server_id, ROLLUP_SCAN)
    counts = Counter(str(a.status) for a in attempts)
    latest = attempts[0] if attempts else None
    return ServerRollups(
        resources=ResourceRollup(total=len({a.resource_id for a in attempts}),
                                 deployed_resource_ids=sorted({a.resource_id for a in attempts},
                                                              key=str)),
        deployments=DeploymentRollup(
            total=reads.attempt_count_on_server(server_id),
            status_counts=[StatusCount(status=s, count=n) for s, n in sorted(counts.items())],
            latest_deployment_id=latest.id if latest else None,
            latest_deployment_status=str(latest.status) if latest else None),
        domains=DomainRollup(total=0, status_counts=[], latest_domain_binding_id=None,
                             latest_domain_binding_status=None))


def _show(svc: Services, server_id: UUID, rollups: bool, now: datetime) -> ServerShowResponse:
    node = found(svc.fleet_reads.nodes.get(server_id), "server", server_id)
    return ServerShowResponse(schema_version="servers.show/v1", server=shape(node),
                              rollups=_rollups(svc, server_id) if rollups else None,
                              generated_at=now)


def _connectivity(svc: Services, server_id: UUID, now: datetime) -> ConnectivityTestResponse:
    node = found(svc.fleet_reads.nodes.get(server_id), "server", server_id)
    seen = "never" if node.last_seen_at is None else node.last_seen_at.isoformat()
    metadata = {"lastSeenAt": "" if node.last_seen_at is None else seen,
                "nodeStatus": str(node.status)}
    reached = node.status != NodeStatus.UNREACHABLE
    healthy = node.status == NodeStatus.HEALTHY
    checks = [
        ConnectivityCheck(name="agent-reachable", status="passed" if reached else "failed",
                          message=f"last heartbeat: {seen}", duration_ms=0, metadata=metadata),
        ConnectivityCheck(name="agent-healthy", status="passed" if healthy else "failed",
                          message=f"the agent reports the node {node.status}", duration_ms=0,
                          metadata=metadata),
    ]
    server = shape(node)
    return ConnectivityTestResponse(
        server_id=node.id, name=server.name, host=server.host, port=server.port,
        provider_key="edge-agent", checked_at=now,
        status="healthy" if healthy else "degraded" if reached else "unreachable",
        checks=checks)


index = _READS.index(LimitQuery, _list)
count = _READS.count(NoQuery,
                     lambda svc, _: svc.fleet_reads.nodes.page(ListQuery(page_size=1)).total)


async def show(request: Request) -> Response:
    server_id = path_uuid(request, "serverId")
    rollups = read_query(request, ServerShowQuery).include_rollups
    return answer(await run(_show, services(request), server_id, rollups,
                            generated_at(request)))


async def connectivity_test(request: Request) -> Response:
    server_id = path_uuid(request, "serverId")
    read_query(request, NoQuery)
    return answer(await run(_connectivity, services(request), server_id,
                            generated_at(request)))


ROUTES = [
    route("GET", "/servers", index, appaloft_op(
        SERVER, "List servers (enrolled nodes)", 200, "ServerList", (400,), query=LimitQuery,
        description="Registering a server is enrolling its agent.")),
    route("GET", "/servers/count", count, appaloft_op(
        SERVER, "Count servers", 200, COUNT_DATA, (400,))),
    route("GET", "/servers/{serverId}", show, appaloft_op(
        SERVER, "Show a server with its rollups", 200, "ServerShow", (400, 404),
        query=ServerShowQuery)),
    route("POST", "/servers/{serverId}/connectivity-tests", connectivity_test, appaloft_op(
        SERVER, "Test a server's connectivity (from its agent's heartbeats)", 200,
        "ConnectivityTest", (400, 404),
        description="The admin never connects to a server: its agent calls in. The checks say"
        " whether its heartbeats arrive and whether it reports itself healthy, as the admin"
        " last heard; no body is read.")),
]
