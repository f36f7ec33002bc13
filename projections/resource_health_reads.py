"""Typed reads of the agents' health observations of resources (resource_health_tables.py):
the latest of a deployment, the answer to a live probe, and a resource's history window."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from projections.query import Cond, ListQuery, Order
from projections.resource_health_tables import HEALTH_OBSERVATIONS
from projections.view import TableView


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One row of resource_health_observations (a table of agents' reports: no Record)."""

    id: UUID
    resource_id: UUID
    deployment_id: UUID
    request_id: str
    node_id: UUID
    observed_at: datetime
    kind: str
    lifecycle: str
    health: str
    overall: str
    message: str
    duration_ms: int | None = None
    status_code: int | None = None
    exit_code: int | None = None
    probe_id: UUID | None = None


class ResourceHealthReads:
    def __init__(self, view: TableView) -> None:
        self.view = view

    def _rows(self, query: ListQuery) -> list[Observation]:
        rows = self.view.query(HEALTH_OBSERVATIONS.name, query).rows
        return [msgspec.convert(r, Observation, from_attributes=False, strict=False)
                for r in rows]

    def latest_of(self, deployment_id: UUID) -> Observation | None:
        """The agent's watch of the deployment as it last said: live probes' answers are
        left out (one probe is not the state `retries` probes in a row make)."""
        found = self._rows(ListQuery((Cond("deployment_id", "eq", deployment_id),
                                      Cond("kind", "ne", "probe")),
                                     (Order("observed_at", descending=True),), page_size=1,
                                     count=False))
        return found[0] if found else None

    def answer(self, probe_id: UUID) -> Observation | None:
        found = self._rows(ListQuery((Cond("probe_id", "eq", probe_id),), page_size=1,
                                     count=False))
        return found[0] if found else None

    def window(self, resource_id: UUID, start: datetime, end: datetime, limit: int
               ) -> list[Observation]:
        """The newest `limit` observations of the resource in [start, end], oldest first."""
        found = self._rows(ListQuery(
            (Cond("resource_id", "eq", resource_id), Cond("observed_at", "ge", start),
             Cond("observed_at", "le", end)),
            (Order("observed_at", descending=True), Order("id", descending=True)),
            page_size=limit, count=False))
        return found[::-1]
