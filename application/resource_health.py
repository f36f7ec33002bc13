"""Resources' health as their agents see it (issue 17): observations of a running deployment's
container (sent on a change, an unchanged state as a heartbeat, the answer to a live probe,
the container's end) and the live probes the admin asks for.

Agents' reports, not events: kept on the read side, bounded twice (at most MAX_PER_RESOURCE
per resource, and nothing older than the telemetry retention), never replayed. Only the node
a deployment is placed on reports on it, as for telemetry.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from application.agent_protocol import HealthObservation, HealthProbe
from application.placed import placed_on_async
from application.ports import Clock, DeploymentFinder, HealthObservations, WorkNotifier
from domain.resource_health import overall_of

# Observations kept per resource: a change every minute for 12 hours, beyond the history's
# largest page (720), and a bounded table whatever an agent sends.
MAX_PER_RESOURCE = 1000
# A probe not handed out within this long is left to retention: its asker has given up.
PROBE_TTL = timedelta(seconds=30)
PAGE = 1000


class ResourceHealth:
    """Application service for the health observations of resources' deployments."""

    def __init__(self, rows: HealthObservations, finder: DeploymentFinder,
                 notifier: WorkNotifier, clock: Clock) -> None:
        self.rows, self.finder, self.notifier, self.clock = rows, finder, notifier, clock

    async def record_async(self, node_id: UUID, request_id: str, body: HealthObservation
                           ) -> bool:
        """Keeps the observation when the deployment is a resource's (True), else nothing.
        On the event loop: every running container reports at least once a minute."""
        row = await placed_on_async(self.finder, node_id, request_id)
        resource_id = _resource_of(row.spec)
        if resource_id is None:
            return False  # an Edgegap or Mengi deployment: no resource to keep it for
        await self.rows.add_async({
            "id": uuid.uuid4(), "resource_id": resource_id, "deployment_id": row.id,
            "request_id": request_id, "node_id": node_id, "observed_at": self.clock.now(),
            "kind": body.kind, "lifecycle": body.lifecycle, "health": body.health,
            "overall": overall_of(body.lifecycle, body.health), "message": body.message,
            "duration_ms": body.duration_ms, "status_code": body.status_code,
            "exit_code": body.exit_code, "probe_id": body.probe_id,
        })
        await self.rows.trim_async(resource_id, MAX_PER_RESOURCE)
        return True

    def ask(self, resource_id: UUID, request_id: str, node_id: UUID) -> UUID:
        """Asks the node's agent to probe the deployment now; the probe's id, which its
        answer (an observation) carries."""
        probe_id = uuid.uuid4()
        self.rows.add_probe({"id": probe_id, "resource_id": resource_id,
                             "request_id": request_id, "node_id": node_id,
                             "requested_at": self.clock.now(), "handed_out_at": None})
        self.notifier.ring([node_id])
        return probe_id

    def probes_for(self, node_id: UUID) -> list[HealthProbe]:
        """The probes to hand out in the node's work answer (each once)."""
        now = self.clock.now()
        return _probes(self.rows.take_probes(node_id, now - PROBE_TTL, now))

    async def probes_for_async(self, node_id: UUID) -> list[HealthProbe]:
        now = self.clock.now()
        return _probes(await self.rows.take_probes_async(node_id, now - PROBE_TTL, now))

    def prune(self, days: float) -> int:
        """Deletes up to PAGE observations and PAGE probes older than `days`."""
        return self.rows.delete_before(self.clock.now() - timedelta(days=days), PAGE)


def _probes(rows: list[dict[str, Any]]) -> list[HealthProbe]:
    return [HealthProbe(probe_id=row["id"], request_id=row["request_id"]) for row in rows]


def _resource_of(spec: str) -> UUID | None:
    try:
        return UUID(json.loads(spec)["resource"]["resource_id"])
    except (ValueError, TypeError, KeyError):
        return None
