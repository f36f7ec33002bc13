"""Admins.Metadata (E1-E5): this admin, its admin cluster, and how edge clusters are sharded.

There is no Netmaker or WireGuard here: names follow the seed's rules (admin-<id>,
<name>.<admin cluster>.nm.internal), netmaker_host_id is the admin's own UUID, and the
VPN-only member fields (addresses, ports) are null. The shapes carry the seed's schema names.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.admins import AdminStatus, Topology
from application.ports import AdminMember
from domain.admin import admin_name, vpn_hostname
from domain.shared import network_name
from entrypoints.http.inputs import services
from entrypoints.http.openapi.admins import META
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, Shape, described

_d = described
PeerCount = Annotated[int, _d("Other live admins in the admin cluster (total_admins - 1)")]
Capacity = Annotated[int, _d("max_wireguard_peers - admin_peer_count: the nodes this admin can"
                             " own; cluster sharding consumes it")]
ErlangName = Annotated[str, _d("admin@<vpn_hostname>, the seed's naming (no Erlang here)")]
PeerBudget = Annotated[int, _d("The admin's configured peer budget (ADMIN_MAX_PEERS)")]
AdminName = Annotated[str, _d("admin-<id>")]
Hostname = Annotated[str, _d("<name>.<admin_cluster_name>.nm.internal")]
NodeIds = list[UUID]


class AdminResponse(Shape):
    """This admin process"""

    admin_cluster_name: Annotated[str, _d("ADMIN_CLUSTER_NAME")]
    admin_peer_count: PeerCount
    edge_node_capacity: Capacity
    erlang_node_name: ErlangName
    id: Annotated[str, _d("ADMIN_ID: 12 lowercase letters or digits")]
    last_computed_at: Annotated[Moment | None, _d("When the topology was computed")]
    max_wireguard_peers: PeerBudget
    name: AdminName
    netmaker_host_id: Annotated[UUID | None, _d(
        "The admin's own UUID (null until it has checked in)")]
    vpn_hostname: Hostname


class AdminTopologyEntry(Shape):
    """A live admin"""

    admin_peer_count: PeerCount
    edge_node_capacity: Capacity
    erlang_node_name: ErlangName
    max_wireguard_peers: PeerBudget
    name: AdminName
    netmaker_host_id: Annotated[UUID, _d("The admin's own UUID (there is no Netmaker here)")]
    vpn_hostname: Hostname


class MyAdminClusterResponse(Shape):
    """This admin's admin cluster"""

    degraded: Annotated[bool, _d(
        "total_nodes > total_edge_capacity: the writes marked degraded answer 503")]
    name: Annotated[str, _d("Admin cluster name")]
    topology: Annotated[list[AdminTopologyEntry], _d("Live admins, by name")]
    total_admins: Annotated[int, _d("Live admins")]
    total_edge_capacity: Annotated[int, _d("Sum of their edge_node_capacity")]
    total_nodes: Annotated[int, _d("Nodes registered across all clusters")]
    weak_leader: Annotated[str, _d("Name of the alphabetically first live admin")]


class AdminClusterMember(Shape):
    """An admin as every admin sees it"""

    ipv4_address: Annotated[str | None, _d("Always null: no VPN")]
    last_checked_in: Annotated[Moment | None, _d(
        "Its last check-in (every ADMIN_CHECKIN_SECONDS)")]
    name: AdminName
    netmaker_host_id: Annotated[UUID, _d("The admin's own UUID")]
    status: Annotated[AdminStatus, _d(
        "online: checked in within ADMIN_OFFLINE_AFTER_SECONDS; offline: silent since;"
        " disconnected: it shut down cleanly")]
    use_static_port: Annotated[bool, _d("Always false: no WireGuard")]
    vpn_hostname: Hostname
    wireguard_ip_address: Annotated[str | None, _d("Always null: no WireGuard")]
    wireguard_port: Annotated[int | None, _d("Always null: no WireGuard")]


class AdminCluster(Shape):
    """An admin cluster and its known admins (stale ones included until forgotten)"""

    admin_count: Annotated[int, _d("Number of admins in this cluster")]
    admins: Annotated[list[AdminClusterMember], _d("Its admins, by name")]
    ipv4_range: Annotated[str | None, _d("Always null: no VPN")]
    name: Annotated[str, _d("Admin cluster name")]


SHAPES = (AdminResponse, AdminTopologyEntry, MyAdminClusterResponse, AdminClusterMember,
          AdminCluster)
# Named responses that are not objects of fixed fields: component name -> type.
NAMED: dict[str, Any] = {
    "AdminClustersResponse": Annotated[list[AdminCluster], _d("Every known admin cluster")],
    "EdgeClustersResponse": Annotated[dict[str, dict[str, NodeIds]], _d(
        "Admin name -> (cluster-<name> -> node IDs); every live admin appears, empty clusters"
        " with []")],
    "OrphanedClustersResponse": Annotated[dict[str, NodeIds], _d(
        "cluster-<name> -> node IDs of the clusters no admin can take (only while degraded)")],
}


def _member_id(member: AdminMember) -> str:
    return member.name.removeprefix("admin-")


def _entry(topology: Topology, member: AdminMember) -> AdminTopologyEntry:
    host = vpn_hostname(_member_id(member), member.admin_cluster_name)
    return AdminTopologyEntry(
        admin_peer_count=max(len(topology.live) - 1, 0),
        edge_node_capacity=topology.edge_capacity.get(member.name, 0),
        erlang_node_name=f"admin@{host}",
        max_wireguard_peers=member.max_peers,
        name=member.name,
        netmaker_host_id=member.id,
        vpn_hostname=host,
    )


def me_body(topology: Topology) -> AdminResponse:
    me = topology.me
    mine = next((m for m in topology.live if m.name == me.name), None)
    host = vpn_hostname(me.admin_id, me.admin_cluster_name)
    peers = max(len(topology.live) - 1, 0)
    return AdminResponse(
        admin_cluster_name=me.admin_cluster_name,
        admin_peer_count=peers,
        edge_node_capacity=topology.edge_capacity.get(me.name, max(me.max_peers - peers, 0)),
        erlang_node_name=f"admin@{host}",
        id=me.admin_id,
        last_computed_at=topology.computed_at,
        max_wireguard_peers=me.max_peers,
        name=admin_name(me.admin_id),
        netmaker_host_id=mine.id if mine else None,
        vpn_hostname=host,
    )


def cluster_body(topology: Topology) -> MyAdminClusterResponse:
    return MyAdminClusterResponse(
        degraded=topology.shards.degraded,
        name=topology.me.admin_cluster_name,
        topology=[_entry(topology, m) for m in topology.live],
        total_admins=len(topology.live),
        total_edge_capacity=sum(topology.edge_capacity.values()),
        total_nodes=topology.total_nodes,
        weak_leader=topology.weak_leader,
    )


def admin_clusters_body(topology: Topology) -> list[AdminCluster]:
    groups: dict[str, list[AdminClusterMember]] = {}
    for member, status in sorted(topology.members, key=lambda ms: ms[0].name):
        groups.setdefault(member.admin_cluster_name, []).append(AdminClusterMember(
            ipv4_address=None,
            last_checked_in=member.last_checked_in,
            name=member.name,
            netmaker_host_id=member.id,
            status=status,
            use_static_port=False,
            vpn_hostname=vpn_hostname(_member_id(member), member.admin_cluster_name),
            wireguard_ip_address=None,
            wireguard_port=None,
        ))
    return [AdminCluster(admin_count=len(admins), admins=admins, ipv4_range=None, name=name)
            for name, admins in sorted(groups.items())]


async def me(request: Request) -> Response:
    topology = await run_in_threadpool(services(request).admins.recompute)
    return ok(request, me_body(topology))


async def my_admin_cluster(request: Request) -> Response:
    topology = await run_in_threadpool(services(request).admins.recompute)
    return ok(request, cluster_body(topology))


async def admin_clusters(request: Request) -> Response:
    topology = await run_in_threadpool(services(request).admins.recompute)
    return ok(request, admin_clusters_body(topology))


def _shards_with_nodes(request: Request) -> tuple[Topology, dict[str, NodeIds]]:
    svc = services(request)
    return svc.admins.recompute(), svc.admins.directory.cluster_nodes()


async def edge_clusters(request: Request) -> Response:
    topology, nodes = await run_in_threadpool(_shards_with_nodes, request)
    body: dict[str, dict[str, NodeIds]] = {m.name: {} for m in topology.live}
    for cluster, owner in topology.shards.owner.items():
        body.setdefault(owner, {})[network_name(cluster)] = nodes.get(cluster, [])
    return ok(request, body)


async def orphaned_clusters(request: Request) -> Response:
    topology, nodes = await run_in_threadpool(_shards_with_nodes, request)
    body = {network_name(c): nodes.get(c, []) for c in topology.shards.orphaned}
    return ok(request, body)


ROUTES = [
    route("GET", "/api/v1/admins/me", me, Op(
        META, "Get the current admin", 200, "Admin", (),
        description="This admin's identity and peer budget.")),
    route("GET", "/api/v1/admins/my_admin_cluster", my_admin_cluster, Op(
        META, "Get this admin's admin cluster", 200, "MyAdminCluster", (),
        description="Live admins, capacity and the degraded flag, computed from the shared"
        " database.")),
    route("GET", "/api/v1/admins/admin_clusters", admin_clusters, Op(
        META, "List all admin clusters", 200, "AdminClusters", (503,),
        description="Every known admin of every admin cluster, with its status. Admins"
        " silent for ADMIN_FORGET_AFTER_SECONDS are forgotten.")),
    route("GET", "/api/v1/admins/edge_clusters", edge_clusters, Op(
        META, "Get all edge cluster assignments", 200, "EdgeClusters", (),
        description="Clusters are sharded across live admins by edge_node_capacity, largest"
        " first, each to the admin with the most room; a cluster is never split.")),
    route("GET", "/api/v1/admins/orphaned_clusters", orphaned_clusters, Op(
        META, "Get all orphaned clusters", 200, "OrphanedClusters", (),
        description="Clusters no admin could take. Empty when not degraded.")),
]
