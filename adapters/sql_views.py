"""Read-model tables in an SQL database, once for PostgreSQL and SQLite.

The SQL itself comes from `adapters.sql_dialect`; what differs between the two stores is small
and named here as hooks: how a read opens a cursor, the tracking table's name, and whether two
processes preparing the read models must take turns. Each store's class keeps its constructor
and the eventsourcing recorder it extends (`postgres_views.py`, `sqlite_views.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from eventsourcing.persistence import Tracking

from adapters.sql_bulk import row_identity
from adapters.sql_dialect import Dialect, tracking_bounds
from projections.model import Change, Table
from projections.query import ListQuery, Page
from projections.versioning import META, Action, ReadModelBusyError, ReadModelVersion, decide
from projections.view import Batch, Decide, T, TableView, version_row

Statements = list[tuple[str, list[list[Any]]]]


class Cursor(Protocol):
    """What both drivers' cursors offer (psycopg with dict rows, sqlite3 with sqlite3.Row)."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: Any, params: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlTableView(TableView):
    """Applies a batch of changes plus its tracking rows in one transaction of the store."""

    dialect: Dialect

    if TYPE_CHECKING:  # provided by the eventsourcing recorder each store's class extends

        def _insert_tracking(self, c: Any, tracking: Tracking) -> None: ...

    def _writing(self) -> AbstractContextManager[Cursor]:
        """A cursor in a transaction that commits when the block ends without an error."""
        raise NotImplementedError

    def _reading(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads (its store decides whether that needs a transaction)."""
        raise NotImplementedError

    def _locked(self, lock: str) -> AbstractContextManager[Cursor]:
        """`_writing`, holding `lock` (see apply_locked) from before its first read until its
        commit."""
        raise NotImplementedError

    def _tracking_table(self) -> str:
        raise NotImplementedError

    def _take_turns(self, c: Cursor) -> None:
        """Serialises `prepare` across processes where the store is shared; none by default."""

    def apply(self, batch: Batch) -> None:
        trackings = tracking_bounds(tracking for _, tracking in batch)
        statements = self._statements(change for changes, _ in batch for change in changes)
        with self._writing() as c:
            for tracking in trackings:  # first: a repeated batch fails before doing any work
                self._insert_tracking(c, tracking)
            execute(c, statements)

    def row_identity(self, table: Table, value: Any) -> Hashable | None:
        return row_identity(self.dialect, table, value)

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        statements = self._statements(changes)
        with self._writing() as c:
            execute(c, statements)

    def _statements(self, changes: Iterable[Change]) -> Statements:
        by_name = {t.name: t for t in self.tables}
        return self.dialect.statements(by_name.__getitem__, changes)

    def apply_locked(self, lock: str, decide: Decide[T]) -> T:
        with self._locked(lock) as c:
            changes, result = decide(_Within(self, c))
            execute(c, self._statements(changes))
        return result

    def query(self, table: str, query: ListQuery) -> Page:
        with self._reading() as c:
            return self._query_on(c, table, query)

    def _query_on(self, c: Cursor, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        (rows_sql, rows_params), counting = self.dialect.select(spec, query)
        # The total is its own statement (a window count would sort every matching row instead
        # of reading the top of an index), so under concurrent writes it may differ from the
        # page by what was just written.
        c.execute(rows_sql, rows_params)
        rows = [self.dialect.row(spec, r, query.columns) for r in c.fetchall()]
        if counting is None:
            return Page(rows, -1)
        c.execute(*counting)
        total: int = c.fetchone()["n"]
        return Page(rows, total)

    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        with self._reading() as c:
            return self._select_on(c, table, where, limit)

    def _select_on(self, c: Cursor, table: str, where: dict[str, Any], limit: int
                   ) -> list[dict[str, Any]]:
        spec = self.table(table)
        sql, params = self.dialect.select_equal(spec, where, limit)
        c.execute(sql, params)
        return [self.dialect.row(spec, r) for r in c.fetchall()]

    def reset(self, application_name: str) -> None:
        with self._writing() as c:
            for table in self.tables:
                if table.owned:
                    c.execute(f"DELETE FROM {self.dialect.name(table.name)}")
            self._forget_tracking(c, application_name)

    def _forget_tracking(self, c: Cursor, application_name: str) -> None:
        c.execute(f"DELETE FROM {self._tracking_table()} WHERE application_name = "
                  f"{self.dialect.p}", (application_name,))

    def prepare(self, application_name: str, ours: ReadModelVersion,
                may_rebuild: Callable[[], bool] | None = None) -> Action:
        """Rebuilds the owned tables if an older release built them (see projections.versioning)."""
        p = self.dialect.p
        with self._writing() as c:
            self._take_turns(c)
            c.execute(f"SELECT version, fingerprint FROM {self.dialect.name(META.name)} "
                      f"WHERE name = {p}", (ours.name,))
            found = c.fetchone()
            stored = None if found is None else {
                "version": found["version"], "fingerprint": found["fingerprint"]}
            c.execute(f"SELECT 1 FROM {self._tracking_table()} WHERE application_name = {p} "
                      "LIMIT 1", (application_name,))
            action = decide(ours, stored, c.fetchone() is not None)
            if action is Action.REBUILD and may_rebuild is not None and not may_rebuild():
                raise ReadModelBusyError(
                    "the read models must be rebuilt for this release, but another process "
                    "projects into them (an admin of the earlier release still running or "
                    "stopping?): stop it first")
            if action is Action.REBUILD:
                for table in self.tables:
                    if table.owned:
                        c.execute(f"DROP TABLE IF EXISTS {self.dialect.name(table.name)}")
                        for statement in self.dialect.create(table):
                            c.execute(statement)
                self._forget_tracking(c, application_name)
            if action is not Action.KEEP:
                execute(c, self._statements([version_row(ours)]))
        return action


class _Within:
    """Reads in the transaction of an `apply_locked`."""

    def __init__(self, view: SqlTableView, c: Cursor) -> None:
        self.view, self.c = view, c

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        rows = self.view._select_on(self.c, table, {self.view.table(table).key: key}, 1)
        return rows[0] if rows else None

    def query(self, table: str, query: ListQuery) -> Page:
        return self.view._query_on(self.c, table, query)


def execute(c: Cursor, statements: Statements) -> None:
    """Runs statements in order; a run of rows for one statement goes as one executemany."""
    for sql, rows in statements:
        if len(rows) == 1:
            c.execute(sql, rows[0])
        else:  # psycopg pipelines the rows: one round trip for the run
            c.executemany(sql, rows)
