"""In-memory table view for unit tests and the popo store; semantics come from projections.query."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.popo import POPOTrackingRecorder

from projections.model import Change, Delete, Increment, Patch, Table, Upsert, UpsertMax
from projections.query import ListQuery, Page, run, sort_key
from projections.versioning import Action, ReadModelVersion
from projections.view import Batch, Decide, T, TableView, version_row

Undo = dict[tuple[str, Any], dict[str, Any] | None]  # (table, key) -> row before the batch


class MemoryTableView(POPOTrackingRecorder, TableView):
    """Rows in dicts keyed by primary key; one lock makes each batch atomic."""

    def __init__(self, tables: tuple[Table, ...]) -> None:
        super().__init__()
        self.tables = tables
        self._rows: dict[str, dict[Any, dict[str, Any]]] = {t.name: {} for t in tables}

    def apply(self, batch: Batch) -> None:
        with self._database_lock:
            positions = copy.copy(self._max_tracking_ids)
            undo: Undo = {}
            try:
                for changes, tracking in batch:
                    self._assert_tracking_uniqueness(tracking)
                    for change in changes:
                        self._change(change, undo)
                    self._insert_tracking(tracking)
            except BaseException:
                self._max_tracking_ids = positions  # a failed batch records no position either
                for (table, key), row in undo.items():
                    if row is None:
                        self._rows[table].pop(key, None)
                    else:
                        self._rows[table][key] = row
                raise

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        with self._database_lock:
            for change in changes:
                self._change(change, {})

    def apply_locked(self, lock: str, decide: Decide[T]) -> T:
        with self._database_lock:  # reentrant: the reads and writes below take it again
            changes, result = decide(self)
            self.apply_untracked(changes)
        return result

    def _change(self, change: Change, undo: Undo) -> None:
        """Applies one change, first noting in `undo` how each row it touches was before."""
        table = self.table(change.table)
        data = self._rows[change.table]

        def touch(key: Any) -> None:
            if (change.table, key) not in undo:
                old = data.get(key)
                undo[(change.table, key)] = None if old is None else dict(old)

        if isinstance(change, Upsert | UpsertMax):
            key = change.row[table.key]
            old = data.get(key)
            if isinstance(change, UpsertMax) and old is not None:
                new = change.row[change.column]
                # As SQL's `WHERE old IS NULL OR old < new`: a NULL new value never wins.
                if old[change.column] is not None and (new is None
                                                       or not old[change.column] < new):
                    return
            touch(key)
            # As SQL's INSERT ... ON CONFLICT DO UPDATE: the columns it names change, the
            # others keep their values (NULL on a new row).
            base = dict.fromkeys(c.name for c in table.columns) if old is None else old
            data[key] = {**base, **change.row}
        elif isinstance(change, Patch | Increment):
            for row in _where(data, table, change.where):
                touch(row[table.key])
                if isinstance(change, Patch):
                    row.update(change.fields)
                elif row[change.column] is not None:
                    row[change.column] += change.delta
        elif isinstance(change, Delete):
            for row in _where(data, table, change.where):
                if change.column is not None and not _not_later(row[change.column],
                                                                 change.upto):
                    continue
                touch(row[table.key])
                del data[row[table.key]]

    def _joined(self, table: Table) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self._rows[table.name].values()]
        for join in table.joins:
            side = self._rows[join.table]
            for row in rows:
                other = side.get(row[join.local], {})
                row.update({c.name: other.get(c.name) for c in join.columns})
        return rows

    def query(self, table: str, query: ListQuery) -> Page:
        with self._database_lock:
            return run(self.table(table), self._joined(self.table(table)), query)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        spec = self.table(table)
        with self._database_lock:
            rows = [r for r in self._joined(spec) if all(r.get(k) == v for k, v in where.items())]
        rows.sort(key=sort_key(spec, ()))  # key order, as SQL's ORDER BY key (not str order)
        return rows[:limit]

    def prepare(self, application_name: str, ours: ReadModelVersion,
                may_rebuild: Callable[[], bool] | None = None) -> Action:
        """Nothing outlives the process: the version is only recorded."""
        self.apply_untracked([version_row(ours)])
        return Action.RECORD

    def reset(self, application_name: str) -> None:
        with self._database_lock:
            for table in self.tables:
                if table.owned:
                    self._rows[table.name] = {}
            self._max_tracking_ids[application_name] = None


def _where(data: dict[Any, dict[str, Any]], table: Table, where: dict[str, Any]
           ) -> list[dict[str, Any]]:
    if table.key in where:  # by primary key: one lookup instead of a scan
        row = data.get(where[table.key])
        candidates = [] if row is None else [row]
    else:
        candidates = list(data.values())
    return [row for row in candidates if all(row.get(k) == v for k, v in where.items())]


def _not_later(value: Any, upto: Any) -> bool:
    """SQL's `value IS NULL OR value <= upto` (a NULL `upto` compares as unknown: kept)."""
    return value is None or (upto is not None and value <= upto)
