"""Read-model tables in the embedded SQLite database, beside the event store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from adapters.sql_dialect import Dialect, tracking_bounds
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change
from projections.query import ListQuery, Page
from projections.versioning import META, Action, ReadModelVersion, decide
from projections.view import Batch, TableView, version_row


class SQLiteTableView(SQLiteTrackingRecorder, TableView):
    """Applies a batch of changes plus its tracking rows in one SQLite transaction."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect(postgres=False)

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        for table in self.tables:
            statements += Dialect(postgres=False).create(table)
        return statements

    def apply(self, batch: Batch) -> None:
        trackings = tracking_bounds(tracking for _, tracking in batch)
        statements = self._statements(change for changes, _ in batch for change in changes)
        with self.datastore.transaction(commit=True) as c:
            for tracking in trackings:  # first: a repeated batch fails before doing any work
                self._insert_tracking(c, tracking)
            _execute(c, statements)

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        statements = self._statements(changes)
        with self.datastore.transaction(commit=True) as c:
            _execute(c, statements)

    def _statements(self, changes: Iterable[Change]) -> list[tuple[str, list[list[Any]]]]:
        by_name = {t.name: t for t in self.tables}
        return self.dialect.statements(by_name.__getitem__, changes)

    def query(self, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        (rows_sql, rows_params), counting = self.dialect.select(spec, query)
        with self.datastore.transaction(commit=False) as c:
            c.execute(rows_sql, rows_params)
            rows = [self.dialect.row(spec, r, query.columns) for r in c.fetchall()]
            if counting is None:
                return Page(rows, -1)
            c.execute(*counting)
            total = c.fetchone()["n"]
        return Page(rows, total)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        spec = self.table(table)
        sql, params = self.dialect.select_equal(spec, where, limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [self.dialect.row(spec, r) for r in c.fetchall()]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables:
                if table.owned:
                    c.execute(f"DELETE FROM {self.dialect.name(table.name)}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))


    def prepare(self, application_name: str, ours: ReadModelVersion) -> Action:
        """Rebuilds the owned tables if an older release built them (see projections.versioning)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT version, fingerprint FROM {self.dialect.name(META.name)} "
                      "WHERE name = ?", (ours.name,))
            found = c.fetchone()
            stored = None if found is None else {"version": found[0], "fingerprint": found[1]}
            c.execute("SELECT 1 FROM tracking WHERE application_name = ? LIMIT 1",
                      (application_name,))
            action = decide(ours, stored, c.fetchone() is not None)
            if action is Action.REBUILD:
                for table in self.tables:
                    if table.owned:
                        c.execute(f"DROP TABLE IF EXISTS {self.dialect.name(table.name)}")
                        for statement in self.dialect.create(table):
                            c.execute(statement)
                c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))
            if action is not Action.KEEP:
                _execute(c, self._statements([version_row(ours)]))
        return action


def _execute(c: SQLiteCursor, statements: list[tuple[str, list[list[Any]]]]) -> None:
    for sql, rows in statements:
        if len(rows) == 1:
            c.execute(sql, rows[0])
        else:
            c.executemany(sql, rows)


class SQLiteFleetView(SQLiteTableView):
    """Fleet read model in SQLite."""

    tables = FLEET_TABLES
