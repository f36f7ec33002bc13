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
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.postgres_views import PostgresTableView
from projections.model import Change

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

    def apply(self, curs: Cursor[DictRow], top: int, tracked: int | None,
              events: Sequence[Any], ids: Sequence[int]) -> bool:
        try:
            changes = self.changes(list(zip(events, ids, strict=True)))
        except Exception:
            log.debug("a handler failed in the writer's transaction", exc_info=True)
            return False
        return self.view.apply_in_commit(curs, self.application_name, top, tracked, changes,
                                         ids[-1])

    def committed(self, ids: Sequence[int]) -> None:
        self.batches += 1
        self.applied(ids[-1], len(ids))
