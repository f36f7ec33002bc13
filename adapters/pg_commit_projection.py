"""The read model applied inside the event store's insert transaction (PostgreSQL).

Without it a write waits for three things in sequence: its events' commit, the projector
thread's second transaction (rows plus tracking, another flush), and the hand-over between the
two threads. Here the save's own transaction also applies the read-model changes and the
tracking position: one flush per batch, and the read model holds the events when the writer
is answered.

Only when the read model already holds every earlier event (its tracking row, locked, equals
the last notification id before ours) are changes applied here; otherwise, as when a handler
raises, the save commits its events alone and the tailing projector applies them in their
turn, so read-model changes always follow log order and a failing handler is reported where
it always was. The projector skips what a writer's transaction already tracked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.postgres_views import PostgresTableView
from application.ports import NO_ROWS, CommittedRows
from projections.committed import Rows, rows_left
from projections.model import Change, Table

log = logging.getLogger(__name__)


class CommitProjection:
    """adapters.pg_recorder.InCommit for one view and the projection that feeds it."""

    def __init__(
        self,
        view: PostgresTableView,
        application_name: str,
        changes: Callable[[Sequence[tuple[Any, int]]], list[Change]],
        applied: Callable[[int, int], None],
    ) -> None:
        self.view = view
        self.application_name = application_name
        self.changes = changes
        self.applied = applied  # (last position, event count): told after the commit
        self.batches = 0  # saves whose read-model changes went in with them
        self.position_lock = view.position_lock(application_name)
        self._tables = {t.name: t for t in view.tables}
        # Per saving thread: the changes of its save in flight, then of its last commit.
        self._saves = threading.local()

    def apply(self, curs: Cursor[DictRow], top: int, tracked: int | None,
              events: Sequence[Any], ids: Sequence[int]) -> bool:
        self._saves.applying = self._saves.committed = None
        try:
            changes = self.changes(list(zip(events, ids, strict=True)))
        except Exception:
            log.debug("a handler failed in the writer's transaction", exc_info=True)
            return False
        applied = self.view.apply_in_commit(curs, self.application_name, top, tracked,
                                            changes, ids[-1])
        if applied:
            self._saves.applying = (ids[-1], changes)
        return applied

    def committed(self, ids: Sequence[int]) -> None:
        self.batches += 1
        self._saves.committed, self._saves.applying = self._saves.applying, None
        self.applied(ids[-1], len(ids))

    def rows(self, position: int) -> CommittedRows:
        """The rows this thread's last save left, if that save committed its read-model
        changes with its events at `position` (its last event); else none known."""
        committed = getattr(self._saves, "committed", None)
        self._saves.committed = None
        if committed is None or committed[0] != position:
            return NO_ROWS
        return _Committed(self._tables, committed[1], self.view.dialect.stored)


class _Committed:
    """A commit's rows, folded from its changes when the first answer asks (a batch of
    heartbeats is answered without them)."""

    def __init__(self, tables: dict[str, Table], changes: list[Change],
                 stored: Callable[[Any, Any], Any]) -> None:
        self._tables, self._changes, self._stored = tables, changes, stored
        self._rows: Rows | None = None
        self._lock = threading.Lock()  # answers rendered in worker threads ask at once

    def row(self, table: str, key: Any) -> dict[str, Any] | None:
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    self._rows = rows_left(self._tables, self._changes, self._stored)
        return self._rows.get((table, key))
