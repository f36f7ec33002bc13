"""OpenAPI wording for Admins.Metadata, Admins.Metrics, Nodes.Metrics and the agent's report
(the response shapes live with their routes)."""

from __future__ import annotations

from application.agent_protocol import MetricsBody
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op

META, METRICS, NODE_METRICS = "Admins.Metadata", "Admins.Metrics", "Nodes.Metrics"
TAGS = [META, METRICS]
NODE_TAGS = [NODE_METRICS]
_NULL_NOTE = " Fields with no meaning in this service are null (README, Metrics)."

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
