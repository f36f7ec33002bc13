"""RuntimeLogStore on the read model (projections/runtime_logs.py): a ring of rows per
deployment, and a head row with its last sequence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.shared import name_id
from projections.model import Change, Upsert
from projections.query import AnyOf, Cond, ListQuery, Order
from projections.runtime_logs import RETAINED, STREAMS
from projections.view import Reads, TableView


class ViewRuntimeLogStore:
    def __init__(self, view: TableView) -> None:
        self.view = view

    def append(self, request_id: str, lines: Sequence[dict[str, Any]], at: datetime,
               places: Sequence[int] | None = None) -> int:
        """Numbers the lines after the deployment's last, its head read and written under a
        lock of the deployment (two admins may take batches of it at once)."""

        def decide(reads: Reads) -> tuple[list[Change], int]:
            head = reads.get("runtime_log_heads", request_id) or {}
            last = int(head.get("last_sequence") or 0)
            taken: datetime | None = head.get("last_timestamp")
            # Of each stream's lines stamped as the last one taken, the place of the last taken;
            # none known if they are of another stamp (an admin of the release before places,
            # still running while this one migrated, moved the head on and left them).
            known = head.get("place_timestamp") == taken
            taken_places = {stream: int(head.get(f"last_{stream}_place") or 0) if known else 0
                            for stream in STREAMS}
            newest, reached = taken, dict(taken_places)
            changes: list[Change] = []
            named: Sequence[int | None] = places if places is not None else [None] * len(lines)
            for line, place in zip(lines, named, strict=True):
                stamp, stream = line["timestamp"], line["stream"]
                if taken is not None and stamp < taken:
                    continue  # shipped before (an agent that restarted sends its last lines)
                if stamp == taken and place is not None and place <= taken_places[stream]:
                    # Taken before: the batch is sent again (its answer lost), or the agent
                    # restarted. Without places (an older agent) they are taken again: podman
                    # stamps whole seconds, and the next batch's first lines can share the
                    # last one's second.
                    continue
                if newest is None or stamp > newest:
                    newest, reached = stamp, dict.fromkeys(STREAMS, 0)
                if stamp == newest:
                    reached[stream] = reached[stream] + 1 if place is None else place
                last += 1
                changes.append(Upsert("runtime_log_lines", {
                    "id": name_id("runtime-log", request_id, str(last % RETAINED)),
                    "request_id": request_id, "sequence": last, "received_at": at, **line}))
            changes.append(Upsert("runtime_log_heads", {
                "request_id": request_id, "last_sequence": last, "last_timestamp": newest,
                "updated_at": at, "place_timestamp": newest,
                **{f"last_{stream}_place": reached[stream] for stream in STREAMS}}))
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
