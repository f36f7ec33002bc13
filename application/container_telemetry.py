"""Container logs and resource samples pushed by agents (nodes may sit behind NAT, so the admin
never reaches into them): kept on the read side, not as events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from application.agent_protocol import DeploymentTelemetry
from application.errors import NotFoundError
from application.ports import Clock, DeploymentFinder, NodeReports
from domain.deployment import REQUEST_ID


class ContainerTelemetry:
    def __init__(self, finder: DeploymentFinder, reports: NodeReports, clock: Clock) -> None:
        self.finder, self.reports, self.clock = finder, reports, clock

    def record(self, node_id: UUID, request_id: str, body: DeploymentTelemetry) -> datetime:
        """Only the node a deployment is placed on reports on it."""
        row = self.finder.one(request_id) if REQUEST_ID.match(request_id) else None
        if row is None or row.get("node_id") != node_id:
            raise NotFoundError(f"deployment {request_id} not found")
        now = self.clock.now()
        sample = msgspec.structs.asdict(body.sample) if body.sample is not None else None
        self.reports.container(request_id, body.logs, now, crashed=body.crashed,
                               exit_code=body.exit_code, sample=sample)
        return now
