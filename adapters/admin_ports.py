"""Membership and node-metrics ports answered from (and written to) the fleet read model."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from application.ports import AdminMember, MetricsReport
from projections.fleet_reads import FleetReads
from projections.model import FOUND, Upsert, UpsertMax
from projections.view import TableView

PAGE = 5000


class ViewAdminDirectory:
    """AdminDirectory and AdminCheckins on the admins and admin_checkins tables, and the
    fleet's reads of clusters and nodes."""

    def __init__(self, view: TableView, fleet: FleetReads) -> None:
        self.view, self.fleet = view, fleet

    def members(self) -> list[AdminMember]:
        return [AdminMember(a.id, a.name, a.admin_cluster_name, a.max_peers, a.url, a.present,
                            a.joined_at, a.last_checked_in)
                for a in self.fleet.admins.every(size=PAGE, order="name")]

    def cluster_sizes(self) -> dict[str, int]:
        return self.fleet.cluster_sizes()

    def cluster_nodes(self) -> dict[str, list[UUID]]:
        return self.fleet.node_ids_by_cluster()

    def check_in(self, admin_id: UUID, at: datetime) -> None:
        row = {"admin_id": admin_id, "last_checked_in": at}
        self.view.apply_untracked([UpsertMax("admin_checkins", row, "last_checked_in")])


class StoredMetrics(msgspec.Struct, frozen=True):
    """A node_metrics row (agents' reports, not events: a table without a record)."""

    received_at: datetime
    host: str  # JSON
    agent: str  # JSON


def _metrics_row(report: MetricsReport) -> Upsert:
    return Upsert("node_metrics", {"node_id": report.node_id, "received_at": report.received_at,
                                   "host": json.dumps(report.host),
                                   "agent": json.dumps(report.agent)})


class ViewNodeMetrics:
    """NodeMetricsBook: one row per node, replaced by each report."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def put(self, report: MetricsReport) -> None:
        self.view.apply_untracked([_metrics_row(report)])

    async def put_by_token_async(self, api_token: str, received_at: datetime,
                                 host: dict[str, Any], agent: dict[str, Any]) -> UUID | None:
        # Every node reports every 15 s: on the loop, the node found by its token and its row
        # replaced in one statement where the view can (TableView.select_touching_async).
        row = _metrics_row(MetricsReport(FOUND, received_at, host, agent))
        node = await self.view.select_touching_async("nodes", {"api_token": api_token}, row)
        return node["id"] if node is not None else None

    def latest(self, node_id: UUID) -> MetricsReport | None:
        row = self.view.get("node_metrics", node_id)
        if row is None:
            return None
        stored = msgspec.convert(row, StoredMetrics)
        return MetricsReport(node_id, stored.received_at, json.loads(stored.host),
                             json.loads(stored.agent))
