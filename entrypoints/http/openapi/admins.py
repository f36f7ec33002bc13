"""OpenAPI tags and wording for Admins.Metadata, Admins.Metrics, Nodes.Metrics and the agent's
report (the Ops and response shapes live with their routes)."""

from __future__ import annotations

META, METRICS, NODE_METRICS = "Admins.Metadata", "Admins.Metrics", "Nodes.Metrics"
TAGS = [META, METRICS]
NODE_TAGS = [NODE_METRICS]
NULL_NOTE = " Fields with no meaning in this service are null (README, Metrics)."

BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "MetricsBody": ("AgentMetricsReportRequest", {
        "host": "cpu, disk (of /), memory and uptime as read from /proc",
        "agent": "The agent's groups: application, commands, ssh (others null)",
    }),
}
