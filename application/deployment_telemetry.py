"""Retention of container telemetry. Samples and log tails are read-model rows the agents push
(not events), so nothing else ever removes them: the scheduler deletes those older than
DEPLOYMENT_TELEMETRY_RETENTION_DAYS, a page of each per call. A running container's log tail is
rewritten at every push, so only the logs of deployments long over go."""

from __future__ import annotations

from datetime import timedelta

from application.ports import Clock, DeploymentTelemetryStore

PAGE = 1000


class DeploymentTelemetry:
    """Application service for the telemetry of deployments."""

    def __init__(self, rows: DeploymentTelemetryStore, clock: Clock) -> None:
        self.rows = rows
        self.clock = clock

    def prune(self, days: float) -> int:
        """Deletes up to PAGE rows of each kind older than `days`; returns how many."""
        return self.rows.delete_before(self.clock.now() - timedelta(days=days), PAGE)
