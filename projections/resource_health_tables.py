"""What agents report of resources' health (issue 17): their observations of running
deployments and the live probes the admin asks them for. Agents' reports, not events
(`owned=False`): a rebuild keeps them, nothing replays them, and only retention removes them
(application/resource_health.py: by age, and at most MAX_PER_RESOURCE per resource)."""

from __future__ import annotations

from projections.model import Kind, Table, cols

TXT, INT, TIME, UID = Kind.TEXT, Kind.INT, Kind.TIME, Kind.UUID

# `observed_at` is the admin's clock when the report came in: agents' clocks may drift, and
# the history's window is the admin's.
HEALTH_OBSERVATIONS = Table(
    "resource_health_observations", "id",
    cols(("id", UID), ("resource_id", UID), ("deployment_id", UID), ("request_id", TXT),
         ("node_id", UID), ("observed_at", TIME), ("kind", TXT), ("lifecycle", TXT),
         ("health", TXT), ("overall", TXT), ("message", TXT), ("duration_ms", INT),
         ("status_code", INT), ("exit_code", INT), ("probe_id", UID)),
    indexes=("resource_id, observed_at", "deployment_id, observed_at", "probe_id",
             "observed_at"),
    owned=False,
)
# A live probe asked of a node's agent; handed out once, in its next work answer.
HEALTH_PROBES = Table(
    "resource_health_probes", "id",
    cols(("id", UID), ("resource_id", UID), ("request_id", TXT), ("node_id", UID),
         ("requested_at", TIME), ("handed_out_at", TIME)),
    indexes=("node_id, requested_at", "requested_at"),
    owned=False,
)
HEALTH_TABLES = (HEALTH_OBSERVATIONS, HEALTH_PROBES)
