"""DeploymentTelemetryStore on the read model: the deployment_samples and deployment_logs
tables and a resource's runtime log lines, each aged by its own time column."""

from __future__ import annotations

from datetime import datetime

from projections.model import Delete
from projections.query import Cond, ListQuery, Order
from projections.view import TableView

# table, the time column that ages it, its key
# (a deployment's runtime log head is never older than its lines: they go first, or together)
AGED = (("deployment_samples", "at", "id"), ("deployment_logs", "updated_at", "request_id"),
        ("deployment_progress", "at", "id"), ("runtime_log_lines", "received_at", "id"),
        ("runtime_log_heads", "updated_at", "request_id"),
        ("deployment_log_counts", "updated_at", "request_id"))


class ViewDeploymentTelemetry:
    """Implements the DeploymentTelemetryStore port on the fleet view."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        removed = 0
        for table, column, key in AGED:
            query = ListQuery((Cond(column, "lt", cutoff),), (Order(column),), page_size=limit,
                              columns=(key,), count=False)
            rows = self.view.query(table, query).rows
            if rows:
                self.view.apply_untracked([Delete(table, {key: row[key]}) for row in rows])
            removed += len(rows)
        return removed
