"""Admins.Metadata (E1-E5): this admin, its admin cluster, and how edge clusters are sharded.

There is no Netmaker or WireGuard here: names follow the seed's rules (admin-<id>,
<name>.<admin cluster>.nm.internal), netmaker_host_id is the admin's own UUID, and the
VPN-only member fields (addresses, ports) are null.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.admins import Topology
from application.ports import AdminMember
from domain.admin import admin_name, vpn_hostname
from domain.shared import network_name
from entrypoints.http.inputs import services
from entrypoints.http.responses import ok


def _member_id(member: AdminMember) -> str:
    return member.name.removeprefix("admin-")


def _entry(topology: Topology, member: AdminMember) -> dict[str, Any]:
    host = vpn_hostname(_member_id(member), member.admin_cluster_name)
    return {
        "admin_peer_count": max(len(topology.live) - 1, 0),
        "edge_node_capacity": topology.edge_capacity.get(member.name, 0),
        "erlang_node_name": f"admin@{host}",
        "max_wireguard_peers": member.max_peers,
        "name": member.name,
        "netmaker_host_id": member.id,
        "vpn_hostname": host,
    }


def me_body(topology: Topology) -> dict[str, Any]:
    me = topology.me
    mine = next((m for m in topology.live if m.name == me.name), None)
    host = vpn_hostname(me.admin_id, me.admin_cluster_name)
    peers = max(len(topology.live) - 1, 0)
    return {
        "admin_cluster_name": me.admin_cluster_name,
        "admin_peer_count": peers,
        "edge_node_capacity": topology.edge_capacity.get(me.name, max(me.max_peers - peers, 0)),
        "erlang_node_name": f"admin@{host}",
        "id": me.admin_id,
        "last_computed_at": topology.computed_at,
        "max_wireguard_peers": me.max_peers,
        "name": admin_name(me.admin_id),
        "netmaker_host_id": mine.id if mine else None,
        "vpn_hostname": host,
    }


def cluster_body(topology: Topology) -> dict[str, Any]:
    return {
        "degraded": topology.shards.degraded,
        "name": topology.me.admin_cluster_name,
        "topology": [_entry(topology, m) for m in topology.live],
        "total_admins": len(topology.live),
        "total_edge_capacity": sum(topology.edge_capacity.values()),
        "total_nodes": topology.total_nodes,
        "weak_leader": topology.weak_leader,
    }


def admin_clusters_body(topology: Topology) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for member, status in sorted(topology.members, key=lambda ms: ms[0].name):
        groups.setdefault(member.admin_cluster_name, []).append({
            "ipv4_address": None,
            "last_checked_in": member.last_checked_in,
            "name": member.name,
            "netmaker_host_id": member.id,
            "status": status,
            "use_static_port": False,
            "vpn_hostname": vpn_hostname(_member_id(member), member.admin_cluster_name),
            "wireguard_ip_address": None,
            "wireguard_port": None,
        })
    return [{"admin_count": len(admins), "admins": admins, "ipv4_range": None, "name": name}
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


def _shards_with_nodes(request: Request) -> tuple[Topology, dict[str, list[Any]]]:
    svc = services(request)
    return svc.admins.recompute(), svc.admins.directory.cluster_nodes()


async def edge_clusters(request: Request) -> Response:
    topology, nodes = await run_in_threadpool(_shards_with_nodes, request)
    body: dict[str, dict[str, list[Any]]] = {m.name: {} for m in topology.live}
    for cluster, owner in topology.shards.owner.items():
        body.setdefault(owner, {})[network_name(cluster)] = nodes.get(cluster, [])
    return ok(request, body)


async def orphaned_clusters(request: Request) -> Response:
    topology, nodes = await run_in_threadpool(_shards_with_nodes, request)
    body = {network_name(c): nodes.get(c, []) for c in topology.shards.orphaned}
    return ok(request, body)


ROUTES = [
    Route("/api/v1/admins/me", me, methods=["GET"]),
    Route("/api/v1/admins/my_admin_cluster", my_admin_cluster, methods=["GET"]),
    Route("/api/v1/admins/admin_clusters", admin_clusters, methods=["GET"]),
    Route("/api/v1/admins/edge_clusters", edge_clusters, methods=["GET"]),
    Route("/api/v1/admins/orphaned_clusters", orphaned_clusters, methods=["GET"]),
]
