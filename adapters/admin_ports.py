"""Membership and node-metrics ports answered from (and written to) the fleet read model."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from application.ports import AdminMember, MetricsReport
from projections.fleet_reads import FleetReads
from projections.model import Upsert, UpsertMax
from projections.targets import all_rows
from projections.view import TableView

PAGE = 5000


def _all(view: TableView, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return list(all_rows(view, table, [], PAGE, columns, order=columns[0]))


class ViewAdminDirectory:
    """AdminDirectory and AdminCheckins on the admins and admin_checkins tables, and the
    fleet's reads of clusters and nodes."""

    def __init__(self, view: TableView, fleet: FleetReads) -> None:
        self.view, self.fleet = view, fleet

    def members(self) -> list[AdminMember]:
        columns = ("name", "id", "admin_cluster_name", "max_peers", "url", "present",
                   "joined_at", "last_checked_in")
        return [AdminMember(r["id"], r["name"], r["admin_cluster_name"], r["max_peers"],
                            r["url"], bool(r["present"]), r["joined_at"], r["last_checked_in"])
                for r in _all(self.view, "admins", columns)]

    def cluster_sizes(self) -> dict[str, int]:
        return self.fleet.cluster_sizes()

    def cluster_nodes(self) -> dict[str, list[UUID]]:
        return self.fleet.node_ids_by_cluster()

    def check_in(self, admin_id: UUID, at: datetime) -> None:
        row = {"admin_id": admin_id, "last_checked_in": at}
        self.view.apply_untracked([UpsertMax("admin_checkins", row, "last_checked_in")])


class ViewNodeMetrics:
    """NodeMetricsBook: one row per node, replaced by each report."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def put(self, report: MetricsReport) -> None:
        row = {"node_id": report.node_id, "received_at": report.received_at,
               "host": json.dumps(report.host), "agent": json.dumps(report.agent)}
        self.view.apply_untracked([Upsert("node_metrics", row)])

    def latest(self, node_id: UUID) -> MetricsReport | None:
        row = self.view.get("node_metrics", node_id)
        if row is None:
            return None
        return MetricsReport(node_id, row["received_at"], json.loads(row["host"]),
                             json.loads(row["agent"]))
