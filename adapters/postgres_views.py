"""Read-model tables in PostgreSQL, in the same database (and transaction scope) as tracking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier

from adapters.sql_dialect import Dialect
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change
from projections.query import ListQuery, Page
from projections.view import Batch, TableView


class PostgresTableView(PostgresTrackingRecorder, TableView):
    """Applies a batch of changes plus its tracking rows in one PostgreSQL transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect(postgres=True, schema=self.datastore.schema)
        for table in self.tables:
            for statement in self.dialect.create(table):
                self.sql_create_statements.append(SQL(statement).format())

    def apply(self, batch: Batch) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for changes, tracking in batch:
                for change in changes:
                    sql, params = self.dialect.change(self.table(change.table), change)
                    curs.execute(sql, params)
                self._insert_tracking(curs, tracking)

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for change in changes:
                sql, params = self.dialect.change(self.table(change.table), change)
                curs.execute(sql, params)

    def query(self, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        (rows_sql, rows_params), (count_sql, count_params) = self.dialect.select(spec, query)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(rows_sql, rows_params)
            rows = [self.dialect.row(spec, r) for r in curs.fetchall()]
            curs.execute(count_sql, count_params)
            total = curs.fetchone()["n"]  # type: ignore[index]
        return Page(rows, total)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        spec = self.table(table)
        sql, params = self.dialect.select_equal(spec, where, limit)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql, params)
            return [self.dialect.row(spec, r) for r in curs.fetchall()]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for table in self.tables:
                if table.owned:
                    curs.execute(f"DELETE FROM {self.dialect.name(table.name)}")
            curs.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    Identifier(self.datastore.schema), Identifier(self.tracking_table_name)),
                (application_name,),
            )


class PostgresFleetView(PostgresTableView):
    """Fleet read model in PostgreSQL."""

    tables = FLEET_TABLES
