"""Container logs, resource samples and start progress pushed by agents (nodes may sit behind
NAT, so the admin never reaches into them): kept on the read side, not as events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from application.agent_protocol import DeploymentProgress, DeploymentTelemetry
from application.placed import placed_on, placed_on_async
from application.ports import Clock, DeploymentFinder, NodeReports

# Progress lines kept per deployment: an agent sends fewer (entrypoints/agent/start_progress.py
# MAX_LINES); this bounds the table whatever one sends.
MAX_PROGRESS = 64


class ContainerTelemetry:
    def __init__(self, finder: DeploymentFinder, reports: NodeReports, clock: Clock) -> None:
        self.finder, self.reports, self.clock = finder, reports, clock

    def record(self, node_id: UUID, request_id: str, body: DeploymentTelemetry) -> datetime:
        """Only the node a deployment is placed on reports on it."""
        placed_on(self.finder, node_id, request_id)
        now = self.clock.now()
        self.reports.container(request_id, body.logs, now, crashed=body.crashed,
                               exit_code=body.exit_code, sample=_sample(body))
        return now

    async def record_async(self, node_id: UUID, request_id: str, body: DeploymentTelemetry
                           ) -> datetime:
        """`record` on the event loop: every running container reports every 10 s, so a
        fleet's telemetry is most of what its agents send."""
        await placed_on_async(self.finder, node_id, request_id)
        now = self.clock.now()
        await self.reports.container_async(request_id, body.logs, now, crashed=body.crashed,
                                           exit_code=body.exit_code, sample=_sample(body))
        return now

    def progress(self, node_id: UUID, request_id: str, body: DeploymentProgress) -> bool:
        """Keeps a line of the deployment's start unless it has MAX_PROGRESS (False)."""
        placed_on(self.finder, node_id, request_id)
        return self.reports.progress({
            "id": uuid.uuid4(), "request_id": request_id, "at": self.clock.now(),
            "phase": body.phase, "level": body.level, "message": body.message}, MAX_PROGRESS)


def _sample(body: DeploymentTelemetry) -> dict[str, Any] | None:
    return msgspec.structs.asdict(body.sample) if body.sample is not None else None
