"""OpenAPI parts for Admins.Metadata, Admins.Metrics, Nodes.Metrics and the agent's report."""

from __future__ import annotations

from typing import Any

from application.agent_protocol import MetricsBody
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.openapi.schemas import (
    BOOL,
    INT,
    STR,
    TIME,
    UUID_S,
    Schema,
    doc,
    nullable,
    obj,
)

META, METRICS, NODE_METRICS = "Admins.Metadata", "Admins.Metrics", "Nodes.Metrics"
TAGS = [META, METRICS]
NODE_TAGS = [NODE_METRICS]
_OPEN: Schema = {"type": "object", "additionalProperties": True}
_GROUP: Schema = {"type": ["object", "null"], "additionalProperties": True}
_IDS: Schema = {"type": "array", "items": UUID_S}
_NULL_NOTE = " Fields with no meaning in this service are null (README, Metrics)."


def _member(**extra: Schema) -> dict[str, Schema]:
    return {
        "admin_peer_count": doc(INT, "Other live admins in the admin cluster (total_admins - 1)"),
        "edge_node_capacity": doc(INT, "max_wireguard_peers - admin_peer_count: the nodes this"
                                  " admin can own; cluster sharding consumes it"),
        "erlang_node_name": doc(STR, "admin@<vpn_hostname>, the seed's naming (no Erlang here)"),
        "max_wireguard_peers": doc(INT, "The admin's configured peer budget (ADMIN_MAX_PEERS)"),
        "name": doc(STR, "admin-<id>"),
        "netmaker_host_id": doc(UUID_S, "The admin's own UUID (there is no Netmaker here)"),
        "vpn_hostname": doc(STR, "<name>.<admin_cluster_name>.nm.internal"),
        **extra,
    }


_MEMBER = obj(
    "An admin as every admin sees it",
    ipv4_address=doc(nullable(STR), "Always null: no VPN"),
    last_checked_in=doc(nullable(TIME), "Its last check-in (every ADMIN_CHECKIN_SECONDS)"),
    name=doc(STR, "admin-<id>"),
    netmaker_host_id=doc(UUID_S, "The admin's own UUID"),
    status=doc({"type": "string", "enum": ["online", "offline", "disconnected"]},
               "online: checked in within ADMIN_OFFLINE_AFTER_SECONDS; offline: silent since;"
               " disconnected: it shut down cleanly"),
    use_static_port=doc(BOOL, "Always false: no WireGuard"),
    vpn_hostname=doc(STR, "<name>.<admin_cluster_name>.nm.internal"),
    wireguard_ip_address=doc(nullable(STR), "Always null: no WireGuard"),
    wireguard_port=doc(nullable(INT), "Always null: no WireGuard"),
)
_HEAD = {"node_id": doc(UUID_S, "Node ID"), "cluster_name": doc(STR, "The node's cluster"),
         "timestamp": doc(TIME, "When the admin received the agent's report")}
_HOST = {g: doc(_GROUP, f"{g} figures read by the agent from /proc (null if unreadable)")
         for g in ("cpu", "disk", "memory", "uptime")}
_AGENT = {g: doc(_GROUP, f"The agent's {g} group") for g in (
    "application", "commands", "discovery", "health_check", "proxy", "ssh", "vpn")}
_AGENT["oban_queues"] = doc({"type": ["array", "null"]}, "Always null: the agent has no job queue")

RESOURCES: dict[str, Any] = {
    "AdminResponse": obj(
        "This admin process", id=doc(STR, "ADMIN_ID: 12 lowercase letters or digits"),
        admin_cluster_name=doc(STR, "ADMIN_CLUSTER_NAME"),
        last_computed_at=doc(nullable(TIME), "When the topology was computed"),
        **{k: v for k, v in _member().items() if k != "netmaker_host_id"},
        netmaker_host_id=doc(nullable(UUID_S), "The admin's own UUID")),
    "MyAdminClusterResponse": obj(
        "This admin's admin cluster",
        degraded=doc(BOOL, "total_nodes > total_edge_capacity: the writes marked degraded"
                     " answer 503"),
        name=doc(STR, "Admin cluster name"),
        topology=doc({"type": "array", "items": obj("A live admin", **_member())},
                     "Live admins, by name"),
        total_admins=doc(INT, "Live admins"),
        total_edge_capacity=doc(INT, "Sum of their edge_node_capacity"),
        total_nodes=doc(INT, "Nodes registered across all clusters"),
        weak_leader=doc(STR, "Name of the alphabetically first live admin")),
    "AdminClustersResponse": {"type": "array", "items": obj(
        "An admin cluster and its known admins (stale ones included until forgotten)",
        admin_count=INT, admins={"type": "array", "items": _MEMBER},
        ipv4_range=doc(nullable(STR), "Always null: no VPN"), name=STR)},
    "EdgeClustersResponse": {**_OPEN, "description": "Admin name -> (cluster-<name> -> node"
                             " IDs); every live admin appears, empty clusters with []",
                             "additionalProperties": {"type": "object",
                                                      "additionalProperties": _IDS}},
    "OrphanedClustersResponse": {**_OPEN, "description": "cluster-<name> -> node IDs of the"
                                 " clusters no admin can take (only while degraded)",
                                 "additionalProperties": _IDS},
    "AdminMetricsResponse": {**_OPEN, "description": "Every group of the seed; see README."},
    "HostMetricsResponse": obj("Host figures (flat, as the seed shows them)", **_HEAD, **_HOST),
    "AgentMetricsResponse": obj("The agent's own counters", **_HEAD, **_AGENT),
    "UnifiedMetricsResponse": obj(
        "Host and agent figures from the node's latest report", **_HEAD,
        host={"type": "object", "properties": {"available": BOOL, **_HOST}},
        agent={"type": "object", "properties": {"available": BOOL, **_AGENT}}),
    "AgentMetricsReceiptResponse": obj("The report was stored",
                                       received_at=doc(TIME, "When the admin received it")),
}

_UNAVAILABLE = (" 503 when the node has not reported yet, is unreachable, or its last report is"
                " older than NODE_UNREACHABLE_AFTER_SECONDS.")
_GET = "GET"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_GET, "/api/v1/admins/me"): Op(
        META, "Get the current admin", 200, "Admin", (),
        description="This admin's identity and peer budget."),
    (_GET, "/api/v1/admins/my_admin_cluster"): Op(
        META, "Get this admin's admin cluster", 200, "MyAdminCluster", (),
        description="Live admins, capacity and the degraded flag, computed from the shared"
        " database."),
    (_GET, "/api/v1/admins/admin_clusters"): Op(
        META, "List all admin clusters", 200, "AdminClusters", (503,),
        description="Every known admin of every admin cluster, with its status. Admins"
        " silent for ADMIN_FORGET_AFTER_SECONDS are forgotten."),
    (_GET, "/api/v1/admins/edge_clusters"): Op(
        META, "Get all edge cluster assignments", 200, "EdgeClusters", (),
        description="Clusters are sharded across live admins by edge_node_capacity, largest"
        " first, each to the admin with the most room; a cluster is never split."),
    (_GET, "/api/v1/admins/orphaned_clusters"): Op(
        META, "Get all orphaned clusters", 200, "OrphanedClusters", (),
        description="Clusters no admin could take. Empty when not degraded."),
    (_GET, "/api/v1/admins/me/metrics"): Op(
        METRICS, "Get metrics for this admin", 200, "AdminMetrics", (503,),
        description="This process's counters since it started." + _NULL_NOTE),
    (_GET, "/api/v1/nodes/{node_id}/metrics"): Op(
        NODE_METRICS, "Get unified metrics for a node", 200, "UnifiedMetrics", (400, 404, 503),
        description="Host and agent figures from the node's latest report." + _UNAVAILABLE),
    (_GET, "/api/v1/nodes/{node_id}/metrics/host"): Op(
        NODE_METRICS, "Get host metrics for a node", 200, "HostMetrics", (400, 404, 503),
        flat=True, description="Not wrapped in {data, meta}, as in the seed." + _UNAVAILABLE),
    (_GET, "/api/v1/nodes/{node_id}/metrics/agent"): Op(
        NODE_METRICS, "Get agent metrics for a node", 200, "AgentMetrics", (400, 404, 503),
        description="The agent's counters." + _NULL_NOTE + _UNAVAILABLE),
    ("POST", "/agent/v1/metrics"): Op(
        AGENT, "Report the node's host and agent metrics", 200, "AgentMetricsReceipt",
        (400, 422), MetricsBody, security=NODE_TOKEN,
        description="Sent by the agent every --metrics-interval seconds; the admin keeps the"
        " latest report per node."),
}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "MetricsBody": ("AgentMetricsReportRequest", {
        "host": "cpu, disk (of /), memory and uptime as read from /proc",
        "agent": "The agent's groups: application, commands, ssh (others null)",
    }),
}
