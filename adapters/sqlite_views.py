"""Read-model tables in the embedded SQLite database, beside the event store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from adapters.sql_dialect import Dialect
from adapters.sql_views import Cursor, SqlTableView
from projections.fleet_tables import FLEET_TABLES


class SQLiteTableView(SQLiteTrackingRecorder, SqlTableView):
    """Applies a batch of changes plus its tracking rows in one SQLite transaction."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect(postgres=False)

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        for table in self.tables:
            statements += Dialect(postgres=False).create(table)
        return statements

    def _writing(self) -> AbstractContextManager[Cursor]:
        return self.datastore.transaction(commit=True)

    def _reading(self) -> AbstractContextManager[Cursor]:
        return self.datastore.transaction(commit=False)

    @contextmanager
    def _locked(self, lock: str) -> Iterator[Cursor]:
        """BEGIN IMMEDIATE: the database's one write lock from the start, not at the first
        write (as the library's BEGIN does), so nothing another connection writes (another
        process's too) comes between the reads and the writes. The lock is the database's:
        `lock` needs no name of its own."""
        with self.datastore.get_connection(commit=True) as conn, conn.cursor() as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _tracking_table(self) -> str:
        return "tracking"


class SQLiteFleetView(SQLiteTableView):
    """Fleet read model in SQLite."""

    tables = FLEET_TABLES
