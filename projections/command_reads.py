"""What the Commands context reads: commands, executions and self-update requests as records,
and the named questions the scheduler and the agents' work loop ask of them."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

from domain.command_execution import OPEN, TERMINAL
from projections.command_tables import (
    CommandExecutionRecord,
    CommandRecord,
    SelfUpdateRequestRecord,
)
from projections.fleet_tables import NodeRecord
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.records import Reads, Record, Records

_OPEN = AnyOf(tuple(Cond("status", "eq", s) for s in OPEN))
_TERMINAL = AnyOf(tuple(Cond("status", "eq", s) for s in TERMINAL))
_OLDEST_FIRST = (Order("inserted_at"), Order("id"))
R = TypeVar("R", bound=Record)


def _oldest(records: Records[R], filters: tuple[Filter, ...], limit: int,
            page: int = 1) -> list[UUID]:
    return records.ids(ListQuery(filters, _OLDEST_FIRST, page=page, page_size=limit))


class CommandReads(Reads):
    commands: Records[CommandRecord]
    executions: Records[CommandExecutionRecord]
    self_update_requests: Records[SelfUpdateRequestRecord]
    _nodes: Records[NodeRecord]

    def open_for_node(self, node_id: UUID, limit: int) -> list[CommandExecutionRecord]:
        """A node's pending and sent executions, oldest first."""
        return self.executions.page(_open_for(node_id, limit)).records

    async def open_for_node_async(self, node_id: UUID, limit: int
                                  ) -> list[CommandExecutionRecord]:
        return (await self.executions.page_async(_open_for(node_id, limit))).records

    def due(self, now: datetime, limit: int) -> list[UUID]:
        return _oldest(self.executions, (Cond("expired_at", "le", now), _OPEN), limit)

    def orphaned(self, limit: int) -> list[UUID]:
        # No liveness row: the node was deleted (its row goes with it) or never existed.
        return _oldest(self.executions, (Cond("last_seen_at", "null"), _OPEN), limit)

    def on_unreachable_nodes(self, seen_before: datetime, limit: int) -> list[UUID]:
        # Pages through the unreachable nodes: the first `limit` of them may have no open work
        # (long-dead machines nobody deleted) while later ones do.
        stale = (Cond("status", "eq", "unreachable"), Cond("last_seen_at", "lt", seen_before))
        found: list[UUID] = []
        page = 1
        while len(found) < limit:
            nodes = _oldest(self._nodes, stale, limit, page)
            if not nodes:
                break
            of_nodes = AnyOf(tuple(Cond("node_id", "eq", n) for n in nodes))
            found += _oldest(self.executions, (of_nodes, _OPEN), limit - len(found))
            if len(nodes) < limit:
                break
            page += 1
        return found

    def finished_before(self, cutoff: datetime, limit: int) -> list[UUID]:
        return _oldest(self.executions, (Cond("updated_at", "lt", cutoff), _TERMINAL), limit)

    def unfinished_update_requests(self, limit: int) -> list[UUID]:
        unfinished = AnyOf((Cond("status", "eq", "pending"), Cond("status", "eq", "processing")))
        return _oldest(self.self_update_requests, (unfinished,), limit)


def _open_for(node_id: UUID, limit: int) -> ListQuery:
    return ListQuery((Cond("node_id", "eq", node_id), _OPEN), _OLDEST_FIRST, page_size=limit,
                     count=False)
