"""HealthObservations on the read model: the resource_health_observations and
resource_health_probes tables (projections/resource_health_tables.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from projections.model import Delete, Upsert
from projections.query import Cond, ListQuery, Order
from projections.view import TableView

OBSERVATIONS, PROBES = "resource_health_observations", "resource_health_probes"
# table, the time column that ages it
AGED = ((OBSERVATIONS, "observed_at"), (PROBES, "requested_at"))


class ViewHealthObservations:
    def __init__(self, view: TableView) -> None:
        self.view = view

    async def add_async(self, row: dict[str, Any]) -> None:
        await self.view.apply_untracked_async([Upsert(OBSERVATIONS, row)])

    async def trim_async(self, resource_id: UUID, keep: int) -> int:
        rows = (await self.view.query_async(OBSERVATIONS, _beyond(resource_id, keep))).rows
        if rows:
            await self.view.apply_untracked_async(
                [Delete(OBSERVATIONS, {"id": r["id"]}) for r in rows])
        return len(rows)

    def add_probe(self, row: dict[str, Any]) -> None:
        self.view.apply_untracked([Upsert(PROBES, row)])

    def take_probes(self, node_id: UUID, since: datetime, now: datetime
                    ) -> list[dict[str, Any]]:
        rows = self.view.query(PROBES, _waiting(node_id, since)).rows
        if rows:
            self.view.apply_untracked(_handed_out(rows, now))
        return rows

    async def take_probes_async(self, node_id: UUID, since: datetime, now: datetime
                                ) -> list[dict[str, Any]]:
        rows = (await self.view.query_async(PROBES, _waiting(node_id, since))).rows
        if rows:
            await self.view.apply_untracked_async(_handed_out(rows, now))
        return rows

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        removed = 0
        for table, column in AGED:
            query = ListQuery((Cond(column, "lt", cutoff),), (Order(column),), page_size=limit,
                              columns=("id",), count=False)
            rows = self.view.query(table, query).rows
            if rows:
                self.view.apply_untracked([Delete(table, {"id": r["id"]}) for r in rows])
            removed += len(rows)
        return removed


def _beyond(resource_id: UUID, keep: int) -> ListQuery:
    """The resource's observations past its newest `keep`: the second page of that size (one
    insert at a time goes past the bound, so one page always covers them)."""
    return ListQuery((Cond("resource_id", "eq", resource_id),),
                     (Order("observed_at", descending=True), Order("id")), page=2,
                     page_size=keep, columns=("id",), count=False)


def _waiting(node_id: UUID, since: datetime) -> ListQuery:
    """The node's probes asked since `since` and not handed out yet, oldest first."""
    return ListQuery((Cond("node_id", "eq", node_id), Cond("requested_at", "ge", since),
                      Cond("handed_out_at", "null")), (Order("requested_at"),), page_size=100,
                     count=False)


def _handed_out(rows: list[dict[str, Any]], now: datetime) -> list[Upsert]:
    return [Upsert(PROBES, {**r, "handed_out_at": now}) for r in rows]
