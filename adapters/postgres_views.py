"""Read-model tables in PostgreSQL, in the same database (and transaction scope) as tracking.

Being the event store's database, the view can also apply a batch inside the store's own insert
transaction (`apply_in_commit`): the events, their read-model rows and the tracking position
then become durable and visible in one commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor as PgCursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from adapters.pg_async_reads import AsyncReads
from adapters.sql_bulk import bulk_statement
from adapters.sql_dialect import Dialect, tracking_bounds
from adapters.sql_views import Cursor, SqlTableView, Statements, execute
from projections.fleet_tables import FLEET_TABLES
from projections.model import Change, Table, Upsert, UpsertMax
from projections.query import AnyOf, ListQuery, Page
from projections.view import Batch

log = logging.getLogger(__name__)
# Counts of list queries kept, each with the read model's version it holds at: a list whose
# count is kept and the read model unchanged since is not counted again (the count is a scan
# of every matching row: with 5,000 nodes, 0.7 ms of PostgreSQL's CPU for each page of 20).
COUNTS_KEPT = 512


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresTableView(PostgresTrackingRecorder, SqlTableView):
    """Applies a batch of changes plus its tracking rows in one PostgreSQL transaction; reads
    also on the event loop (adapters/pg_async_reads.py)."""

    def __init__(self, datastore: PostgresDatastore, read_pool_size: int = 0,
                 **kwargs: Any) -> None:
        """`read_pool_size`: connections for reads on the event loop; 0 for none (then the
        handlers read through the sync methods on worker threads)."""
        super().__init__(datastore, **kwargs)
        self.reads_async = read_pool_size > 0
        self.dialect = Dialect(postgres=True, schema=self.datastore.schema)
        pool = self.datastore.pool  # its conninfo and kwargs are plain values (eventsourcing's)
        assert isinstance(pool.conninfo, str) and isinstance(pool.kwargs, dict)
        self._names: dict[str, tuple[str, ...]] = {}
        self._async_reads = AsyncReads(pool.conninfo, dict(pool.kwargs), read_pool_size,
                                       pool.timeout)
        # What versions the read model (see _counts_keep): every tracking row's position
        # and the transaction that last wrote it, so that a rebuild ending at the same
        # position is a new version too.
        agg = "string_agg(application_name || ':' || notification_id || ':' || xmin, ','" \
              " ORDER BY application_name)"
        self._version_sql = f"SELECT {agg} FROM {self._tracking_table()}"  # noqa: S608
        # A list's count -> (the read model's version it was counted at, the count).
        self._counts: dict[tuple[Any, ...], tuple[str, int]] = {}
        # Each owned table's own columns (a kept count's filters may read only these).
        self._own_columns = {t.name: frozenset(c.name for c in t.columns)
                             for t in self.tables if t.owned}
        for table in self.tables:
            for statement in self.dialect.create(table):
                self.sql_create_statements.append(SQL(statement).format())

    def position_lock(self, application_name: str) -> str | None:
        """The statement that locks `application_name`'s position for `apply_in_commit`, as
        text for the event store to send with its own table lock (one round trip for both);
        None where positions are not one row each.

        Single-row tracking (eventsourcing's default): the row is the position. Locked, so no
        projector transaction moves it meanwhile; skipped if one holds it, rather than waiting
        for it with the events table locked."""
        if not self.datastore.single_row_tracking:
            return None
        return SQL("SELECT notification_id AS tracked FROM {0}.{1} WHERE application_name = {2} "
                   "FOR UPDATE SKIP LOCKED").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name),
            Literal(application_name)).as_string(None)

    def apply_in_commit(  # noqa: PLR0913
        self, c: PgCursor[DictRow], application_name: str, top: int, tracked: int | None,
        changes: list[Change], last: int,
    ) -> bool:
        """Inside another transaction on this database (the event store's insert, which holds
        the events table lock, so `top` is the last notification id committed before ours, and
        the position row, locked by `position_lock`'s statement, read `tracked`): applies
        `changes`, records `last` as the position and commits the transaction, but only if the
        read model already holds everything up to `top`; otherwise does nothing (False), the
        caller commits, and the tailing projector applies these events in their turn."""
        # No row: nothing tracked yet (then the log must be empty before ours), or locked.
        if not self.datastore.single_row_tracking or (tracked or 0) != top:
            return False
        statements = self._statements(changes)
        with c.connection.cursor() as position:
            # The changes, the position and the COMMIT: one round trip. A statement that fails
            # fails the pipeline before its COMMIT runs (the caller rolls back). The position's
            # answer is read once the pipeline has synced (reading it inside would flush and
            # wait there); the row is ours, locked at `tracked`, so the upsert always takes.
            with c.connection.pipeline():
                execute(c, statements)
                position.execute(self.insert_tracking_statement, prepare=True, params={
                    "application_name": application_name, "notification_id": last})
                c.execute("COMMIT", prepare=False)
            if position.fetchone() is None:  # cannot happen: see above
                log.error("position %d of %s not recorded with its changes", last,
                          application_name)
        return True

    def apply(self, batch: Batch) -> None:
        """As the base class, in one pipeline: a batch's statements alternate shapes (a node
        registered, then patched, then its cluster counted), so without it each would cost a
        round trip. The tracking rows go last, where reading their answer syncs the pipeline;
        a repeated batch still fails as a whole (one transaction)."""
        trackings = tracking_bounds(tracking for _, tracking in batch)
        statements = self._statements(change for changes, _ in batch for change in changes)
        with self.datastore.transaction(commit=True) as c, c.connection.pipeline():
            execute(c, statements)
            for tracking in trackings:
                self._track(c, tracking)

    def _track(self, c: PgCursor[DictRow], tracking: Tracking) -> None:
        """Records a position after a pipeline's statements, on a cursor of its own: read on
        the statements' cursor, the answer was sometimes an earlier statement's ("the last
        operation didn't produce records (command status: INSERT 0 0)", an UPSERT that changed
        nothing), failing the page (seen in rebuilds under load). psycopg keeps a cursor's results
        for its last statement only, and in a pipeline its maintainers advise a cursor per
        statement whose results are read (psycopg issue 604)."""
        with c.connection.cursor() as own:
            self._insert_tracking(own, tracking)

    def apply_bulk(self, batch: Batch) -> None:
        """As `apply`, each group of like changes (projections.change_order) as one statement
        where its values allow (adapters.sql_bulk), else row by row as `apply` writes them."""
        if not batch:
            return
        trackings = tracking_bounds(tracking for _, tracking in batch)
        by_name = {t.name: t for t in self.tables}
        statements: Statements = []
        for group in self.in_rounds(batch):
            table = by_name[group[0].table]
            bulk = bulk_statement(self.dialect, table, group) if len(group) > 1 else None
            if bulk is None:
                statements += self.dialect.statements(by_name.__getitem__, group)
            else:
                statements.append((bulk[0], [bulk[1]]))
        with self.datastore.transaction(commit=True) as c:
            for tracking in trackings:  # first: a repeated batch fails before doing any work
                self._insert_tracking(c, tracking)
            with c.connection.pipeline():  # nothing read back in it: no result to mix up
                execute(c, statements)

    async def query_async(self, table: str, query: ListQuery) -> Page:
        spec = self.table(table)
        names = self.dialect.shown(spec, query.columns)
        if not query.count:
            rows = await self._async_reads.fetch(self.dialect.select(spec, query)[0])
            return Page([dict(zip(names, row, strict=True)) for row in rows], -1)
        key = known = None
        versioned = self._counts_keep(spec, query)
        if versioned:
            counted, counting = self.dialect.select_counted_since(spec, query, self._version_sql)
            key = (counting[0], *counting[1])
            try:
                known = self._counts.get(key)
            except TypeError:  # a value no dict can key (a list): counted every time
                key = None
            if known is not None:
                counted[1][0], counted[1][1] = known
        else:
            counted, counting = self.dialect.select_counted(spec, query)
        rows = await self._async_reads.fetch(counted)
        if not rows:  # past the last page, or nothing matches: no row carries the total
            return Page([], (await self._async_reads.fetch(counting))[0][0])
        # The total rides in each row's last column (before the version, where one is read);
        # zip stops at the names before them.
        total = rows[0][-2] if versioned else rows[0][-1]
        if key is not None and rows[0][-1] is not None and known != (rows[0][-1], total):
            if len(self._counts) >= COUNTS_KEPT:
                self._counts.clear()
            self._counts[key] = (rows[0][-1], total)
        return Page([dict(zip(names, row, strict=False)) for row in rows], total)

    def _counts_keep(self, spec: Table, query: ListQuery) -> bool:
        """Whether a count of this query may be kept (see COUNTS_KEPT): the table changes
        only with the tracked position (owned, one position row per upstream), and the
        filters read only its own columns (not a joined table's, which change untracked)."""
        own = self._own_columns.get(spec.name)
        if own is None or not self.datastore.single_row_tracking:
            return False
        for item in query.filters:
            conds = item.items if isinstance(item, AnyOf) else (item,)
            if any(cond.column not in own for cond in conds):
                return False
        return True

    async def select_async(self, table: str, where: dict[str, Any], limit: int = 1000
                           ) -> list[dict[str, Any]]:
        spec = self.table(table)
        rows = await self._async_reads.fetch(self.dialect.select_equal(spec, where, limit))
        names = self._shown(spec)
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def select_touching_async(self, table: str, where: dict[str, Any],
                                    touch: Upsert | UpsertMax) -> dict[str, Any] | None:
        if not self.reads_async:
            return await super().select_touching_async(table, where, touch)
        spec = self.table(table)
        rows = await self._async_reads.fetch(
            self.dialect.select_touching(spec, where, self.table(touch.table), touch))
        return dict(zip(self._shown(spec), rows[0], strict=True)) if rows else None

    def _shown(self, spec: Table) -> tuple[str, ...]:
        """Every readable column of a table: fixed per table, so named once."""
        names = self._names.get(spec.name)
        if names is None:
            names = self._names[spec.name] = self.dialect.shown(spec)
        return names

    def apply_untracked(self, changes: Sequence[Change]) -> None:
        try:
            super().apply_untracked(changes)
        finally:
            self._forget_counts(changes)

    async def apply_untracked_async(self, changes: Sequence[Change]) -> None:
        if not self.reads_async:
            await super().apply_untracked_async(changes)  # apply_untracked, in a thread
            return
        try:
            await self._async_reads.write(self._statements(changes))
        finally:
            self._forget_counts(changes)

    def _forget_counts(self, changes: Sequence[Change]) -> None:
        """The counts kept assume an owned table changes only with the tracked position. The
        service writes untracked rows only to tables it does not own (liveness, telemetry);
        a test that fills an owned table this way is still counted right in this process.
        Once the write is over is enough: a count read before it ended, kept meanwhile, goes
        too."""
        if self._counts and any(c.table in self._own_columns for c in changes):
            self._counts.clear()

    async def aclose(self) -> None:
        """Closes the event loop's pool (the app's lifespan, on the loop that used it)."""
        await self._async_reads.aclose()

    def _writing(self) -> AbstractContextManager[Cursor]:
        return self.datastore.transaction(commit=True)

    def _reading(self) -> AbstractContextManager[Cursor]:
        # Autocommit reads: no BEGIN/ROLLBACK round trips.
        return self.datastore.cursor()

    @contextmanager
    def _locked(self, lock: str) -> Iterator[Cursor]:
        """A transaction-scoped advisory lock on `lock` in this schema (no row to lock: a
        deployment's first batch has no head yet); two names hashing alike only take turns."""
        with self._writing() as c:
            c.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                      (f"{self.datastore.schema}:{lock}",))
            yield c

    def _tracking_table(self) -> str:
        return f"{_quoted(self.datastore.schema)}.{_quoted(self.tracking_table_name)}"

    def _take_turns(self, c: Cursor) -> None:
        # Two processes starting at once: a transaction-scoped advisory lock.
        c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                  (f"edge-read-models:{self.datastore.schema}",))


class PostgresFleetView(PostgresTableView):
    """Fleet read model in PostgreSQL."""

    tables = FLEET_TABLES
