"""Read-model tables in PostgreSQL, in the same database (and transaction scope) as tracking."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL

from adapters.sql_dialect import Dialect
from adapters.sql_views import Cursor, SqlTableView
from projections.fleet_tables import FLEET_TABLES


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresTableView(PostgresTrackingRecorder, SqlTableView):
    """Applies a batch of changes plus its tracking rows in one PostgreSQL transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect(postgres=True, schema=self.datastore.schema)
        for table in self.tables:
            for statement in self.dialect.create(table):
                self.sql_create_statements.append(SQL(statement).format())

    def _writing(self) -> AbstractContextManager[Cursor]:
        return self.datastore.transaction(commit=True)

    def _reading(self) -> AbstractContextManager[Cursor]:
        # Autocommit reads: no BEGIN/ROLLBACK round trips.
        return self.datastore.cursor()

    def _tracking_table(self) -> str:
        return f"{_quoted(self.datastore.schema)}.{_quoted(self.tracking_table_name)}"

    def _take_turns(self, c: Cursor) -> None:
        # Two processes starting at once: a transaction-scoped advisory lock.
        c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                  (f"edge-read-models:{self.datastore.schema}",))


class PostgresFleetView(PostgresTableView):
    """Fleet read model in PostgreSQL."""

    tables = FLEET_TABLES
