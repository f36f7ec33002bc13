"""The event store's PostgreSQL recorder: events go in with COPY in a plain transaction.

eventsourcing's recorder sends all of a save's rows as one pipelined executemany. With psycopg
3.3 the pipeline stops flushing once its command queue is empty and waits for a reply, so an
INSERT message larger than the socket buffers (about 4 MB: a command to some 7,000 nodes) is
never fully sent and the save hangs, holding the events table's lock. COPY has no such limit and
is about four times faster than the stock array-of-composites insert.

A save may also carry its domain events (EdgeStore.save passes them when `in_commit` is set):
then the read model's changes for them are applied in the same transaction, once the
notification ids are known and while the table lock keeps positions in commit order, so one
commit makes the events durable and the writer's read model current.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal

from adapters.event_decoding import uuid_of
from adapters.pg_datastore import render_statements, rendered
from application.ports import CommittedRows

TOPIC = "adapters.pg_recorder:CopyApplicationRecorder"
SMALL_SAVE = 64  # events a save inserts with one INSERT; more go in with COPY
log = logging.getLogger(__name__)


class InCommit(Protocol):
    """Applies a save's read-model changes inside the save's own transaction."""

    # A statement run right after the table lock (in the same round trip) that locks the
    # read model's position and answers it in a column `tracked` (no row: none); None: none.
    position_lock: str | None

    def apply(self, curs: Cursor[DictRow], top: int, tracked: int | None,
              events: Sequence[Any], ids: Sequence[int]) -> bool:
        """Under the table lock, after the insert (`top`: the last id before ours; `tracked`:
        what `position_lock` read); True if the changes and the tracking position were
        applied and the transaction committed with them (one round trip). May raise: the
        save is then done again without it."""
        ...

    def committed(self, ids: Sequence[int]) -> None:
        """The transaction in which `apply` returned True has committed."""
        ...

    def rows(self, position: int) -> CommittedRows:
        """The rows the calling thread's last save left in the read model, if that save's
        last event is at `position` and its changes went in with it (else NO_ROWS)."""
        ...


def _notifications(rows: Iterable[tuple[Any, ...]]) -> list[Notification]:
    """Rows of (notification_id, originator_id, originator_version, topic, state).

    The same objects as `Notification(...)` makes, without its frozen dataclass __init__
    (five object.__setattr__ calls: 1.0 us a row against 0.46; a replay makes one per event).
    An originator id read as text becomes its UUID through the decoder's kept ones (psycopg
    made a new UUID per row, 1 us; an aggregate's events name it again and again)."""
    out = []
    for nid, oid, version, topic, state in rows:
        if type(oid) is str:
            oid = uuid_of(oid)
        notification = _new(Notification)
        notification.__dict__.update(originator_id=oid, originator_version=version,
                                     topic=topic, state=bytes(state), id=nid)
        out.append(notification)
    return out


_new = object.__new__


class InCommitFailedError(Exception):
    """Applying the read-model changes failed inside the insert transaction (rolled back)."""


class CopyApplicationRecorder(PostgresApplicationRecorder):
    """Inserts a save's events with COPY, under the same table lock and NOTIFY as the base.

    Under the table lock no one else takes notification ids, so ours are the ones above the
    maximum read before the COPY. A duplicate (id, version) still fails the whole save with
    eventsourcing's IntegrityError, which the write path retries on fresh state.
    """

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # The server processes of the connections that inserted here: a NOTIFY from one of them
        # is this process's own commit, which its projector has already been handed (the write
        # path's saved(), or the insert's own transaction). A pid the OS gives another process
        # later costs that process's commits their wake-up, not their projection: the projector
        # polls too.
        self.backends: set[int] = set()
        table = self._table = SQL("{0}.{1}").format(Identifier(self.datastore.schema),
                                                    Identifier(self.events_table_name))
        self.sql_top = SQL("SELECT COALESCE(MAX(notification_id), 0) AS top FROM {0}").format(
            table)
        self.sql_copy = SQL("COPY {0} (originator_id, originator_version, topic, state) "
                            "FROM STDIN (FORMAT BINARY)").format(table)
        # By row count (_sql_insert_of): rows as VALUES of plain parameters, which psycopg
        # dumps in C; four array parameters cost ten times as much to dump.
        self._sql_inserts: dict[int, SQL] = {}
        # Text before and after the NOTIFY, and the statement with a bare one, by the read
        # model's position lock.
        self._sql_begin: dict[str | None, tuple[str, str, SQL]] = {}
        self._channel = Identifier(self.channel_name).as_string(None)
        self.sql_ids = SQL("SELECT notification_id FROM {0} WHERE notification_id > %s "
                           "ORDER BY notification_id").format(table)
        self.sql_many = SQL("SELECT originator_id, originator_version, topic, state FROM {0} "
                            "WHERE originator_id = ANY(%(ids)s) "
                            "ORDER BY originator_id, originator_version").format(table)
        # The originator id as text (see _notifications); the page is read in binary, so the
        # events' bytes come as they are instead of hex that the server makes and psycopg
        # parses (a replay reads every event).
        self.sql_page = SQL("SELECT notification_id, originator_id::text, originator_version, "
                            "topic, state FROM {0} WHERE notification_id > %s "
                            "ORDER BY notification_id LIMIT %s").format(table)
        self._sql_many_snapshotted: tuple[Any, SQL] | None = None  # (snapshot recorder, sql)
        self._sql_topics: dict[tuple[tuple[str, ...], bool], SQL] = {}  # _sql_topics_page
        # Set by bootstrap when WRITE_PROJECT_IN_COMMIT is on (see the module's docstring).
        self.in_commit: InCommit | None = None
        render_statements(self)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None,
        topics: Sequence[str] = (), *, inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The base class's, with rows as tuples for a plain page after a position (how the
        projector and a replay read the log): a dict per row was a fifth of a replay's CPU."""
        if start is None or stop is not None:
            page: Sequence[Notification] = super().select_notifications(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start)
            return page
        after = start if not inclusive_of_start else start - 1
        binary = not topics
        sql = self._sql_topics_page(tuple(topics)) if topics else self.sql_page
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(sql, (after, limit), prepare=True, binary=binary)
            return _notifications(c.fetchall())

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_page_and_head(self, start: int, limit: int, topics: Sequence[str]
                             ) -> tuple[list[Notification], int]:
        """Up to `limit` notifications of `topics` after `start`, and the last notification id,
        in one statement (one snapshot): as the head is read with the page, a short page holds
        every event of those topics up to it (ids become visible in commit order)."""
        sql = self._sql_topics_page(tuple(topics), head=True)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(sql, (start, limit), prepare=True)
            rows = c.fetchall()
        head = rows[0][0] if rows else 0
        return _notifications(row[1:] for row in rows if row[1] is not None), head

    def _sql_insert_of(self, rows: int) -> SQL:
        found = self._sql_inserts.get(rows)
        if found is None:
            values = SQL(", ").join([SQL("(%s, %s, %s, %s)")] * rows)
            found = self._sql_inserts[rows] = rendered(SQL(
                "INSERT INTO {0} (originator_id, originator_version, topic, state) VALUES {1} "
                "RETURNING notification_id").format(self._table, values))
        return found

    def _sql_topics_page(self, topics: tuple[str, ...], head: bool = False) -> SQL:
        """A page of these topics only, with the log's head beside each row when `head` (the
        relay's read: one statement, one snapshot). The topics are written into the statement:
        as a parameter, psycopg dumped the list again at every read, a tenth of a lone write's
        CPU. One statement per (topics, head); callers use a few."""
        found = self._sql_topics.get((topics, head))
        if found is None:
            if len(self._sql_topics) >= 16:
                self._sql_topics.clear()
            page = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {0} WHERE notification_id > %s AND topic = ANY({1}::text[]) "
                "ORDER BY notification_id LIMIT %s").format(self._table, Literal(list(topics)))
            if head:
                page = SQL(
                    "SELECT h.head, p.notification_id, p.originator_id, p.originator_version, "
                    "p.topic, p.state FROM (SELECT COALESCE(MAX(notification_id), 0) AS head "
                    "FROM {0}) h LEFT JOIN LATERAL ({1}) p ON true ORDER BY p.notification_id"
                ).format(self._table, page)
            found = self._sql_topics[(topics, head)] = rendered(page)
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_of(
        self, originator_ids: Sequence[UUID], snapshots: Any = None
    ) -> dict[UUID, list[StoredEvent]]:
        """What rebuilds several aggregates, in one query (one round trip, not one each): each
        one's latest snapshot, when `snapshots` (the snapshot recorder) holds one, then its
        events after it."""
        sql = self._sql_snapshotted(snapshots) if snapshots is not None else self.sql_many
        found: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql, {"ids": list(originator_ids)})
            for row in curs.fetchall():
                originator_id = row["originator_id"]
                found.setdefault(originator_id, []).append(StoredEvent(
                    originator_id=originator_id, originator_version=row["originator_version"],
                    topic=row["topic"], state=row["state"]))
        return found

    def _sql_begin_lock_notify_top(self, position_lock: str | None,
                                   notices: Sequence[str] = ()) -> SQL:
        """BEGIN, the table lock, the NOTIFY, the last id before ours and, where the read
        model is applied in the commit, its position locked: one simple query, one round
        trip where psycopg's transaction() would send BEGIN alone first.

        notices: payloads for the channel's NOTIFY (EdgeStore.save), in place of the bare one;
        PostgreSQL delivers them as the transaction commits, and never if it does not. Only
        they are rendered per save (composing the whole statement again cost 14 µs, 2 µs)."""
        found = self._sql_begin.get(position_lock)
        if found is None:
            extra = [SQL(position_lock)] if position_lock is not None else []
            lock = rendered(SQL("; ").join([SQL("BEGIN"), *self.lock_table_statements]))
            read = rendered(SQL("; ").join([self.sql_top, *extra]))
            before, after = lock.as_string(None) + "; ", "; " + read.as_string(None)
            found = self._sql_begin[position_lock] = (
                before, after, SQL(f"{before}NOTIFY {self._channel}{after}"))
        before, after, bare = found
        if not notices:
            return bare
        notify = "; ".join(f"NOTIFY {self._channel}, {Literal(p).as_string(None)}"
                           for p in notices)
        return SQL(before + notify + after)

    def _insert_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                     top: int) -> list[int]:
        """The rows in, in order; their notification ids. Under the table lock nobody else
        takes ids, so ours are increasing in the order of the rows. A few rows (a command's
        save) go in one INSERT answering its ids: two round trips fewer than COPY and the
        read of the ids after it, which a large save still takes (COPY is faster there)."""
        if len(stored_events) <= SMALL_SAVE:
            params = [v for e in stored_events
                      for v in (e.originator_id, e.originator_version, e.topic, e.state)]
            curs.execute(self._sql_insert_of(len(stored_events)), params,
                         prepare=True if len(stored_events) <= 8 else None)
            return sorted(row["notification_id"] for row in curs.fetchall())
        with curs.copy(self.sql_copy) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for e in stored_events:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        curs.execute(self.sql_ids, (top,))
        return [row["notification_id"] for row in curs.fetchall()]

    def _sql_snapshotted(self, snapshots: Any) -> SQL:
        """Composed once per snapshot recorder (the store always passes the same one)."""
        cached = self._sql_many_snapshotted
        if cached is not None and cached[0] is snapshots:
            return cached[1]
        table = SQL("{0}.{1}").format(Identifier(snapshots.datastore.schema),
                                      Identifier(snapshots.events_table_name))
        sql = SQL(
            "WITH snap AS (SELECT DISTINCT ON (originator_id) originator_id, "
            "originator_version, topic, state FROM {1} WHERE originator_id = ANY(%(ids)s) "
            "ORDER BY originator_id, originator_version DESC) "
            "SELECT originator_id, originator_version, topic, state FROM snap UNION ALL "
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {0} e "
            "LEFT JOIN snap s ON s.originator_id = e.originator_id "
            "WHERE e.originator_id = ANY(%(ids)s) "
            "AND e.originator_version > COALESCE(s.originator_version, 0) "
            "ORDER BY 1, 2").format(self._table, table)
        self._sql_many_snapshotted = (snapshots, rendered(sql))
        return self._sql_many_snapshotted[1]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        events = kwargs.pop("events_to_project", None)
        notices = kwargs.pop("notices", ())
        in_commit = self.in_commit if events is not None else None
        if in_commit is not None:
            try:
                ids, applied = self._insert(stored_events, in_commit, events, notices, kwargs)
            except InCommitFailedError as exc:
                # The tailing projector meets the same error and reports it (readiness, 503);
                # the notices still go: the work they announce is not readable until then.
                log.debug("read-model changes failed in the insert; saved without them",
                          exc_info=exc.__cause__)
                ids, applied = self._insert(stored_events, None, None, notices, kwargs)
            if applied:
                in_commit.committed(ids)
            return ids
        return self._insert(stored_events, None, None, notices, kwargs)[0]

    def _insert(
        self, stored_events: Sequence[StoredEvent], in_commit: InCommit | None,
        events: Sequence[Any] | None, notices: Sequence[str], kwargs: dict[str, Any],
    ) -> tuple[list[int], bool]:
        applied = False
        position_lock = in_commit.position_lock if in_commit is not None else None
        with self.datastore.get_connection() as conn, _transaction(conn) as curs:
            curs.execute(self._sql_begin_lock_notify_top(position_lock, notices))
            top, tracked = _top_and_tracked(curs)
            self._insert_events(curs, stored_events, **kwargs)
            self.backends.add(curs.connection.info.backend_pid)
            ids = self._insert_rows(curs, stored_events, top)
            if len(ids) != len(stored_events):
                raise ProgrammingError(
                    f"{len(ids)} notification ids for {len(stored_events)} events")
            if in_commit is not None and events is not None:
                try:
                    applied = in_commit.apply(curs, top, tracked, events, ids)
                except Exception as exc:
                    raise InCommitFailedError from exc
        return ids, applied


def _top_and_tracked(curs: Cursor[DictRow]) -> tuple[int, int | None]:
    """The answers of the statement that began the save: the last id before ours (`top`)
    and, if it locked the read model's position, that position (`tracked`; None: no row)."""
    rows: list[DictRow | None] = []
    while True:
        if curs.description is not None:  # BEGIN, SET, LOCK and NOTIFY answer no rows
            rows.append(curs.fetchone())
        if not curs.nextset():
            break
    top, *more = rows
    assert top is not None
    tracked = more[0]["tracked"] if more and more[0] is not None else None
    return top["top"], tracked


@contextmanager
def _transaction(conn: Connection[DictRow]) -> Iterator[Cursor[DictRow]]:
    """A transaction on an autocommit connection (the pool's) whose BEGIN the caller sends
    with its first statement; committed when the block ends, else rolled back."""
    try:
        with conn.cursor() as curs:
            yield curs
        # Sends COMMIT (psycopg sees the transaction the BEGIN opened), unless the read
        # model's changes already went with theirs (InCommit.apply).
        conn.commit()
    except BaseException:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.rollback()
            except psycopg.Error:
                log.debug("rollback failed; the pool discards the connection", exc_info=True)
        raise
