"""Heartbeats land on the read side only: a last_seen_at row, never an event."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from projections.fleet_reads import FleetReads
from projections.model import UpsertMax
from projections.view import TableView


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _seen(node_id: UUID, at: datetime) -> UpsertMax:
    return UpsertMax("node_liveness", {"node_id": node_id, "last_seen_at": at}, "last_seen_at")


class ViewLiveness:
    """Implements the Liveness port on the fleet view."""

    def __init__(self, view: TableView, reads: FleetReads) -> None:
        self.view, self.reads = view, reads

    def touch(self, node_id: UUID, at: datetime) -> str | None:
        node = self.reads.nodes.get(node_id)
        if node is None:
            return None
        self.view.apply_untracked([_seen(node_id, at)])
        return node.status

    async def seen_async(self, node_id: UUID, at: datetime) -> None:
        await self.view.apply_untracked_async([_seen(node_id, at)])

    def silent(self, seen_before: datetime, statuses: tuple[str, ...], limit: int) -> list[UUID]:
        return self.reads.silent_nodes(seen_before, statuses, limit)
