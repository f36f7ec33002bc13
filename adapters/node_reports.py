"""NodeReports on the read model: what agents report that is no event, one row per subject,
replaced at each report (the telemetry retention pass deletes what grows old)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.deployment_tables import DEPLOYMENT_LOG_COUNTS, container_lines
from projections.model import Change, Increment, Upsert, UpsertMax
from projections.query import Cond, ListQuery, Order
from projections.view import Reads, TableView

_COUNTS = DEPLOYMENT_LOG_COUNTS.name


class ViewNodeReports:
    def __init__(self, view: TableView) -> None:
        self.view = view

    def images(self, node_id: UUID, images: Sequence[str]) -> None:
        self.view.apply_untracked([_images(node_id, images)])

    async def images_async(self, node_id: UUID, images: Sequence[str]) -> None:
        await self.view.apply_untracked_async([_images(node_id, images)])

    def container(  # noqa: PLR0913 - one report's fields, named
        self, request_id: str, logs: str, at: datetime, *, crashed: bool,
        exit_code: int | None, sample: dict[str, Any] | None,
    ) -> None:
        self.view.apply_untracked(_container(request_id, logs, at, crashed, exit_code, sample))

    async def container_async(  # noqa: PLR0913 - one report's fields, named
        self, request_id: str, logs: str, at: datetime, *, crashed: bool,
        exit_code: int | None, sample: dict[str, Any] | None,
    ) -> None:
        await self.view.apply_untracked_async(
            _container(request_id, logs, at, crashed, exit_code, sample))

    def progress(self, line: dict[str, Any], keep: int) -> bool:
        """Numbers the line after the deployment's last, under a lock of the deployment (two
        admins may take its lines at once: the count and the number read, then written), and
        counts it in the same write (logCount)."""
        request_id = line["request_id"]
        last = ListQuery((Cond("request_id", "eq", request_id), Cond("sequence", "notnull")),
                         (Order("sequence", descending=True),), page_size=1,
                         columns=("sequence",))
        # Lines an admin of the release before numbering stored (one still running while
        # this release migrated): they sorted first in `last`, and None + 1 failed every later
        # line of the deployment. They are numbered here, in their order, before this one.
        loose = ListQuery((Cond("request_id", "eq", request_id), Cond("sequence", "null")),
                          (Order("at"), Order("id")), page_size=keep, count=False)
        counted = {"request_id": request_id}

        def decide(reads: Reads) -> tuple[list[Change], bool]:
            found = reads.query("deployment_progress", last)
            sequence = int(found.rows[0]["sequence"]) if found.rows else 0
            changes: list[Change] = []
            for row in reads.query("deployment_progress", loose).rows:
                sequence += 1
                changes.append(Upsert("deployment_progress", {**row, "sequence": sequence}))
            kept = found.total + len(changes) < keep
            if kept:
                sequence += 1
                changes.append(Upsert("deployment_progress", {**line, "sequence": sequence}))
            if changes:
                changes += [
                    # A count from 0 (made if absent, else left alone), the lines numbered
                    # here, and the time of the newest line it counts.
                    UpsertMax(_COUNTS, {**counted, "progress_lines": 0}, "progress_lines"),
                    Increment(_COUNTS, counted, "progress_lines", len(changes)),
                    UpsertMax(_COUNTS, {**counted, "updated_at": line["at"]}, "updated_at"),
                ]
            return changes, kept

        return self.view.apply_locked(f"deployment-progress:{request_id}", decide)


def _container(  # noqa: PLR0913 - one report's fields
    request_id: str, logs: str, at: datetime, crashed: bool, exit_code: int | None,
    sample: dict[str, Any] | None,
) -> list[Change]:
    """A container report's rows: its log tail (and crash), and its resource sample."""
    log_row: dict[str, Any] = {"request_id": request_id, "logs": logs, "updated_at": at}
    if crashed:
        log_row.update(crash_logs=logs, exit_code=exit_code)
    shown = container_lines(logs)
    counts: dict[str, Any] = {"request_id": request_id, "log_lines": shown, "updated_at": at}
    if crashed:
        counts["crash_lines"] = shown
    changes: list[Change] = [Upsert("deployment_logs", log_row), Upsert(_COUNTS, counts)]
    if sample is not None:
        row = {"id": uuid.uuid4(), "request_id": request_id, "at": at, **sample}
        row["cpu_percent"] = str(row["cpu_percent"])  # exact decimal text, as stored
        changes.append(Upsert("deployment_samples", row))
    return changes


def _images(node_id: UUID, images: Sequence[str]) -> Upsert:
    held = "|" + "|".join(sorted(set(images))) + "|" if images else ""
    return Upsert("node_images", {"node_id": node_id, "images": held})
