"""Heartbeats land on the read side only: a last_seen_at row, never an event."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from application.ports import Seen
from projections.fleet_reads import FleetReads
from projections.model import FOUND, UpsertMax
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

    async def seen_by_token_async(self, api_token: str, at: datetime) -> Seen | None:
        """One round trip on PostgreSQL: the node found by its token and its last_seen_at
        touched in the same statement (a heartbeat was two: the lookup, then the touch)."""
        row = await self.view.select_touching_async("nodes", {"api_token": api_token},
                                                    _seen(FOUND, at))
        return Seen(row["id"], row["status"]) if row is not None else None

    def silent(self, seen_before: datetime, statuses: tuple[str, ...], limit: int) -> list[UUID]:
        return self.reads.silent_nodes(seen_before, statuses, limit)
