"""Read-model tables in PostgreSQL, in the same database (and transaction scope) as tracking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from adapters.sql_dialect import Dialect, tracking_bounds
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change
from projections.query import ListQuery, Page
from projections.versioning import META, Action, ReadModelVersion, decide
from projections.view import Batch, TableView, version_row


class PostgresTableView(PostgresTrackingRecorder, TableView):
    """Applies a batch of changes plus its tracking rows in one PostgreSQL transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect(postgres=True, schema=self.datastore.schema)
        for table in self.tables:
            for statement in self.dialect.create(table):
                self.sql_create_statements.append(SQL(statement).format())

    def apply(self, batch: Batch) -> None:
        trackings = tracking_bounds(tracking for _, tracking in batch)
        statements = self._statements(change for changes, _ in batch for change in changes)
        with self.datastore.transaction(commit=True) as curs:
            for tracking in trackings:  # first: a repeated batch fails before doing any work
                self._insert_tracking(curs, tracking)
            _execute(curs, statements)

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        statements = self._statements(changes)
        with self.datastore.transaction(commit=True) as curs:
            _execute(curs, statements)

    def _statements(self, changes: Iterable[Change]) -> list[tuple[str, list[list[Any]]]]:
        by_name = {t.name: t for t in self.tables}
        return self.dialect.statements(by_name.__getitem__, changes)

    def query(self, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        (rows_sql, rows_params), counting = self.dialect.select(spec, query)
        # Autocommit reads: no BEGIN/ROLLBACK round trips. The total is its own statement (a
        # window count would sort every matching row instead of reading the top of an index),
        # so under concurrent writes it may differ from the page by what was just written.
        with self.datastore.cursor() as curs:
            curs.execute(rows_sql, rows_params)
            rows = [self.dialect.row(spec, r, query.columns) for r in curs.fetchall()]
            if counting is None:
                return Page(rows, -1)
            curs.execute(*counting)
            total = curs.fetchone()["n"]  # type: ignore[index]
        return Page(rows, total)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        spec = self.table(table)
        sql, params = self.dialect.select_equal(spec, where, limit)
        with self.datastore.cursor() as curs:
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


    def prepare(self, application_name: str, ours: ReadModelVersion) -> Action:
        """Rebuilds the owned tables if an older release built them (see projections.versioning);
        two processes starting at once take turns on a transaction-scoped advisory lock."""
        schema = Identifier(self.datastore.schema)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"edge-read-models:{self.datastore.schema}",))
            curs.execute(SQL("SELECT version, fingerprint FROM {0} WHERE name = %s").format(
                SQL(self.dialect.name(META.name))), (ours.name,))
            stored = curs.fetchone()
            curs.execute(SQL("SELECT 1 FROM {0}.{1} WHERE application_name = %s LIMIT 1").format(
                schema, Identifier(self.tracking_table_name)), (application_name,))
            action = decide(ours, stored, curs.fetchone() is not None)
            if action is Action.REBUILD:
                for table in self.tables:
                    if table.owned:
                        curs.execute(f"DROP TABLE IF EXISTS {self.dialect.name(table.name)}")
                        for statement in self.dialect.create(table):
                            curs.execute(statement)
                curs.execute(SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    schema, Identifier(self.tracking_table_name)), (application_name,))
            if action is not Action.KEEP:
                _execute(curs, self._statements([version_row(ours)]))
        return action


def _execute(curs: Cursor[Any], statements: list[tuple[str, list[list[Any]]]]) -> None:
    for sql, rows in statements:
        if len(rows) == 1:
            curs.execute(sql, rows[0])
        else:  # psycopg pipelines the rows: one round trip for the run
            curs.executemany(sql, rows)


class PostgresFleetView(PostgresTableView):
    """Fleet read model in PostgreSQL."""

    tables = FLEET_TABLES
