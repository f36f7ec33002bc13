"""Read-model tables in the embedded SQLite database, beside the event store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from adapters.sql_dialect import Dialect
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change
from projections.query import ListQuery, Page
from projections.view import Batch, TableView


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
        with self.datastore.transaction(commit=True) as c:
            for changes, tracking in batch:
                for change in changes:
                    c.execute(*self.dialect.change(self.table(change.table), change))
                self._insert_tracking(c, tracking)

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for change in changes:
                c.execute(*self.dialect.change(self.table(change.table), change))

    def query(self, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        (rows_sql, rows_params), (count_sql, count_params) = self.dialect.select(spec, query)
        with self.datastore.transaction(commit=False) as c:
            c.execute(rows_sql, rows_params)
            rows = [self.dialect.row(spec, dict(r)) for r in c.fetchall()]
            c.execute(count_sql, count_params)
            total = c.fetchone()["n"]
        return Page(rows, total)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        spec = self.table(table)
        sql, params = self.dialect.select_equal(spec, where, limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [self.dialect.row(spec, dict(r)) for r in c.fetchall()]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            for table in self.tables:
                if table.owned:
                    c.execute(f"DELETE FROM {self.dialect.name(table.name)}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))


class SQLiteFleetView(SQLiteTableView):
    """Fleet read model in SQLite."""

    tables = FLEET_TABLES
