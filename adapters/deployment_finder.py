"""DeploymentFinder: bulk-stop filters evaluated on the deployments read model, and the
deployments the scheduler may have to act on.

Each filter selects a set of request ids: `any` value matches, `all` values match (for tags:
the deployment has every tag), `not`: none matches. A deployment must pass every filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.deployment import Status
from domain.node import NodeStatus
from projections.query import AnyOf, Cond, ListQuery, Order
from projections.targets import all_rows
from projections.view import TableView

PAGE = 5000
LIVE = AnyOf(tuple(Cond("status", "eq", s.value)
                   for s in (Status.DEPLOYING, Status.READY, Status.ERROR)))


class ViewDeploymentFinder:
    """Answers from the deployments and deployment_tags tables."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def _rows(self, table: str, cond: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        filters = [cond] if cond is not None else []
        return list(all_rows(self.view, table, filters, PAGE, columns, order=columns[0]))

    def _with(self, field: str, value: str) -> set[str]:
        if field == "tags":
            ids = {r["deployment_id"] for r in self._rows(
                "deployment_tags", Cond("name", "eq", value), ("deployment_id", "name"))}
            return {r["request_id"] for r in self._rows("deployments", None, ("request_id", "id"))
                    if r["id"] in ids}
        typed: Any = value
        if field == "node_id":
            try:
                typed = UUID(value)
            except ValueError:
                return set()
        return {r["request_id"] for r in self._rows("deployments", Cond(field, "eq", typed),
                                                     ("request_id",))}

    def matching(self, filters: Sequence[Any]) -> list[str]:
        everything = {r["request_id"] for r in self._rows("deployments", None, ("request_id",))}
        selected = set(everything)
        for f in filters:
            sets = [self._with(f.field, v) for v in f.values]
            if f.filter_type == "any":
                selected &= set().union(*sets)
            elif f.filter_type == "all":
                selected &= set[str].intersection(*sets)
            else:
                selected -= set().union(*sets)
        return sorted(selected)

    def overdue(self, now: datetime) -> list[str]:
        """READY deployments whose max_duration (minutes) has run out."""
        rows = self._rows("deployments", Cond("max_duration", "gt", 0),
                          ("request_id", "status", "start_time", "max_duration", "stopping"))
        return sorted(r["request_id"] for r in rows
                      if r["status"] == "Status.READY" and not r.get("stopping")
                      and r["start_time"] + timedelta(minutes=r["max_duration"]) <= now)

    def _deploying(self, filters: tuple[Cond, ...], limit: int) -> list[dict[str, Any]]:
        query = ListQuery((Cond("status", "eq", Status.DEPLOYING.value), *filters),
                          (Order("start_time"), Order("request_id")), page_size=limit,
                          columns=("request_id", "node_id"), count=False)
        return self.view.query("deployments", query).rows

    def deploying_before(self, cutoff: datetime, limit: int) -> list[str]:
        # Placed in the decision that requested it, so start_time is when it was placed.
        return [r["request_id"] for r in self._deploying((Cond("start_time", "le", cutoff),),
                                                          limit)]

    def deploying_on_lost_nodes(self, limit: int) -> list[str]:
        # From the deployments side: DEPLOYING is a passing state, so there are few, while
        # unreachable nodes pile up (dead machines nobody deleted).
        rows = self._deploying((), limit)
        nodes = sorted({r["node_id"] for r in rows if r["node_id"] is not None}, key=str)
        if not nodes:
            return []
        query = ListQuery((AnyOf(tuple(Cond("id", "eq", n) for n in nodes)),),
                          page_size=len(nodes), columns=("id", "status"), count=False)
        status = {r["id"]: r["status"] for r in self.view.query("nodes", query).rows}
        lost = (None, NodeStatus.UNREACHABLE.value)  # None: its row went with the node
        return [r["request_id"] for r in rows if status.get(r["node_id"]) in lost]

    def live_on(self, node_id: UUID) -> list[dict[str, Any]]:
        query = ListQuery((Cond("node_id", "eq", node_id), LIVE), (Order("start_time"),),
                          page_size=1000)
        return self.view.query("deployments", query).rows

    def one(self, request_id: str) -> dict[str, Any] | None:
        return self.view.get("deployments", request_id)

    def runtime(self, deployment_id: UUID) -> dict[str, Any] | None:
        return self.view.get("resource_runtimes", deployment_id)

    def runtime_controls_before(self, cutoff: datetime, limit: int) -> list[tuple[UUID, UUID]]:
        under_way = AnyOf((Cond("status", "eq", "accepted"), Cond("status", "eq", "running")))
        query = ListQuery((under_way, Cond("started_at", "lt", cutoff)),
                          (Order("started_at"),), page_size=limit, count=False)
        rows = self.view.query("runtime_control_attempts", query).rows
        return [(r["resource_id"], r["id"]) for r in rows]
