"""RuntimeLogStore on the read model (projections/runtime_logs.py): a ring of rows per
deployment, and a head row with its last sequence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.shared import name_id
from projections.model import Change, Upsert
from projections.query import AnyOf, Cond, ListQuery, Order
from projections.runtime_logs import RETAINED
from projections.view import Reads, TableView


class ViewRuntimeLogStore:
    def __init__(self, view: TableView) -> None:
        self.view = view

    def append(self, request_id: str, lines: Sequence[dict[str, Any]], at: datetime) -> int:
        """Numbers the lines after the deployment's last, its head read and written under a
        lock of the deployment (two admins may take batches of it at once)."""

        def decide(reads: Reads) -> tuple[list[Change], int]:
            head = reads.get("runtime_log_heads", request_id)
            last = int(head["last_sequence"]) if head else 0
            taken: datetime | None = head.get("last_timestamp") if head else None
            newest = taken
            changes: list[Change] = []
            for line in lines:
                if taken is not None and line["timestamp"] < taken:
                    # Shipped before (an agent that restarted sends its last lines again). Not
                    # the lines stamped as the last one taken: podman stamps whole seconds, and
                    # the next batch's first lines can share the last one's second (they were
                    # dropped, 2 of 60). A batch sent again after its answer was lost repeats
                    # those few instead: nothing in a batch tells it from the next one.
                    continue
                newest = line["timestamp"] if newest is None else max(newest, line["timestamp"])
                last += 1
                changes.append(Upsert("runtime_log_lines", {
                    "id": name_id("runtime-log", request_id, str(last % RETAINED)),
                    "request_id": request_id, "sequence": last, "received_at": at, **line}))
            changes.append(Upsert("runtime_log_heads", {
                "request_id": request_id, "last_sequence": last, "last_timestamp": newest,
                "updated_at": at}))
            return changes, last

        return self.view.apply_locked(f"runtime-log:{request_id}", decide)

    def heads(self, request_ids: Sequence[str]) -> dict[str, int]:
        if not request_ids:
            return {}
        ids = tuple(dict.fromkeys(request_ids))
        query = ListQuery((AnyOf(tuple(Cond("request_id", "eq", r) for r in ids)),),
                          page_size=len(ids), columns=("request_id", "last_sequence"),
                          count=False)
        return {row["request_id"]: int(row["last_sequence"])
                for row in self.view.query("runtime_log_heads", query).rows}

    def read(self, request_id: str, after: int | None, limit: int,
             since: datetime | None) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        where = [Cond("request_id", "eq", request_id)]
        if after is not None:
            where.append(Cond("sequence", "gt", after))
        if since is not None:
            where.append(Cond("timestamp", "ge", since))
        newest_first = after is None
        query = ListQuery(tuple(where), (Order("sequence", descending=newest_first),),
                          page_size=limit, count=False)
        rows = self.view.query("runtime_log_lines", query).rows
        return rows[::-1] if newest_first else rows
