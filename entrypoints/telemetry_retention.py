"""Retention of container telemetry. Samples and log tails are read-model rows the agents push
(not events), so nothing else ever removes them: the scheduler deletes those older than
DEPLOYMENT_TELEMETRY_RETENTION_DAYS, a page of each per call. A running container's log row is
rewritten at every push, so only the logs of deployments long over go."""

from __future__ import annotations

from datetime import datetime, timedelta

from projections.model import Delete
from projections.query import Cond, ListQuery, Order
from projections.view import TableView

PAGE = 1000
# table, the time column that ages it, its key
AGED = (("deployment_samples", "at", "id"), ("deployment_logs", "updated_at", "request_id"))


def prune_telemetry(view: TableView, now: datetime, days: float) -> int:
    """Deletes up to PAGE rows of each telemetry table older than `days`; returns how many."""
    cutoff = now - timedelta(days=days)
    removed = 0
    for table, column, key in AGED:
        query = ListQuery((Cond(column, "lt", cutoff),), (Order(column),), page_size=PAGE,
                          columns=(key,), count=False)
        rows = view.query(table, query).rows
        if rows:
            view.apply_untracked([Delete(table, {key: row[key]}) for row in rows])
        removed += len(rows)
    return removed
