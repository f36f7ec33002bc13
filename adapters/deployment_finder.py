"""DeploymentFinder: bulk-stop filters evaluated on the deployments read model.

Each filter selects a set of request ids: `any` value matches, `all` values match (for tags:
the deployment has every tag), `not`: none matches. A deployment must pass every filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from projections.query import Cond
from projections.targets import all_rows
from projections.view import TableView

PAGE = 5000


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
