"""Read-model tables in the embedded SQLite database, beside the event store."""

from __future__ import annotations

from contextlib import AbstractContextManager
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

    def _tracking_table(self) -> str:
        return "tracking"


class SQLiteFleetView(SQLiteTableView):
    """Fleet read model in SQLite."""

    tables = FLEET_TABLES
