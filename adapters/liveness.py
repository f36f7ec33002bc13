"""Heartbeats land on the read side only: a last_seen_at row, never an event."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from projections.model import UpsertMax
from projections.query import AnyOf, Cond, ListQuery
from projections.view import TableView


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ViewLiveness:
    """Implements the Liveness port on the fleet view."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def touch(self, node_id: UUID, at: datetime) -> str | None:
        node = self.view.get("nodes", node_id)
        if node is None:
            return None
        row = {"node_id": node_id, "last_seen_at": at}
        self.view.apply_untracked([UpsertMax("node_liveness", row, "last_seen_at")])
        return str(node["status"])

    def silent(self, seen_before: datetime, statuses: tuple[str, ...], limit: int) -> list[UUID]:
        in_status = AnyOf(tuple(Cond("status", "eq", s) for s in statuses))
        query = ListQuery((Cond("last_seen_at", "lt", seen_before), in_status), page_size=limit)
        return [row["id"] for row in self.view.query("nodes", query).rows]
