"""The EventLog port over the store's own events table: PostgreSQL, SQLite, or in memory.

The recorders page notifications forwards only and cannot count, so the SQL kinds query the
table eventsourcing created (`<schema>.<app>_events` keyed by notification_id; SQLite's
`stored_events` keyed by rowid) with the same columns the recorder reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql

from adapters.event_message_ids import TABLE
from adapters.pg_datastore import pg_table
from application.event_log import EventLog, Window

_COLUMNS = "originator_id, originator_version, topic, state"
_COLUMNS_OF_E = "e.originator_id, e.originator_version, e.topic, e.state"


def event_log_for(recorder: ApplicationRecorder) -> EventLog:
    """The EventLog reading the table behind `recorder`."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return PostgresEventLog(recorder)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return SQLiteEventLog(recorder)
    return MemoryEventLog(recorder)


R = TypeVar("R", bound=ApplicationRecorder)


class _RecorderHead(Generic[R]):
    recorder: R

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0


class PostgresEventLog(_RecorderHead[PostgresApplicationRecorder]):
    """count(*) and LIMIT/OFFSET on the notification_id index, with topic = ANY(...)."""

    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self.recorder = recorder
        self.table = pg_table(recorder.datastore.schema, recorder.events_table_name)
        self.sql_find = sql.SQL(
            "SELECT e.notification_id, {} FROM {} m JOIN {} e ON e.notification_id = m.position "
            "WHERE m.message_id = %s"
        ).format(sql.SQL(_COLUMNS_OF_E), pg_table(recorder.datastore.schema, TABLE), self.table)

    def _where(self, window: Window) -> tuple[sql.Composable, list[Any]]:
        clauses = [sql.SQL("notification_id >= %s"), sql.SQL("topic = ANY(%s)")]
        params: list[Any] = [window.low, list(window.topics)]
        if window.high is not None:
            clauses.append(sql.SQL("notification_id <= %s"))
            params.append(window.high)
        if window.subject_id is not None:
            clauses.append(sql.SQL("originator_id = %s"))
            params.append(window.subject_id)
        return sql.SQL(" AND ").join(clauses), params

    def count(self, window: Window) -> int:
        where, params = self._where(window)
        query = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(self.table, where)
        with self.recorder.datastore.get_connection() as conn:
            row = conn.execute(query, params).fetchone()
        return int(row["n"]) if row else 0

    def select(self, window: Window, offset: int, limit: int) -> Sequence[Notification]:
        where, params = self._where(window)
        query = sql.SQL(
            "SELECT notification_id, {} FROM {} WHERE {} ORDER BY notification_id {} "
            "LIMIT %s OFFSET %s"
        ).format(sql.SQL(_COLUMNS), self.table, where,
                 sql.SQL("DESC" if window.descending else "ASC"))
        with self.recorder.datastore.get_connection() as conn:
            rows = conn.execute(query, [*params, limit, offset]).fetchall()
        return [_pg_notification(r) for r in rows]

    def find(self, message_id: UUID) -> Notification | None:
        with self.recorder.datastore.get_connection() as conn:
            row = conn.execute(self.sql_find, [message_id]).fetchone()
        return _pg_notification(row) if row is not None else None


def _pg_notification(r: Any) -> Notification:
    return Notification(id=r["notification_id"], originator_id=r["originator_id"],
                        originator_version=r["originator_version"], topic=r["topic"],
                        state=bytes(r["state"]))


class SQLiteEventLog(_RecorderHead[SQLiteApplicationRecorder]):
    """The same queries on SQLite, where the notification id is the rowid."""

    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self.recorder = recorder
        self.table = recorder.events_table_name

    def _where(self, window: Window) -> tuple[str, list[Any]]:
        marks = ",".join("?" * len(window.topics))
        clauses = ["rowid >= ?", f"topic IN ({marks})"]
        params: list[Any] = [window.low, *window.topics]
        if window.high is not None:
            clauses.append("rowid <= ?")
            params.append(window.high)
        if window.subject_id is not None:
            clauses.append("originator_id = ?")  # stored as 32 hex digits
            params.append(window.subject_id.hex)
        return " AND ".join(clauses), params

    def count(self, window: Window) -> int:
        where, params = self._where(window)
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT count(*) FROM {self.table} WHERE {where}", params)  # noqa: S608
            return int(c.fetchone()[0])

    def select(self, window: Window, offset: int, limit: int) -> Sequence[Notification]:
        where, params = self._where(window)
        order = "DESC" if window.descending else "ASC"
        statement = (
            f"SELECT rowid, {_COLUMNS} FROM {self.table} WHERE {where} "  # noqa: S608
            f"ORDER BY rowid {order} LIMIT ? OFFSET ?"
        )
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [*params, limit, offset])
            rows = c.fetchall()
        return [self._notification(r) for r in rows]

    def find(self, message_id: UUID) -> Notification | None:
        statement = (
            f"SELECT e.rowid, {_COLUMNS_OF_E} FROM {TABLE} m JOIN {self.table} e "  # noqa: S608
            "ON e.rowid = m.position WHERE m.message_id = ?"
        )
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [message_id.hex])
            row = c.fetchone()
        return self._notification(row) if row is not None else None

    def _notification(self, r: Any) -> Notification:
        return Notification(id=r["rowid"],
                            originator_id=self.recorder.convert_originator_id(r["originator_id"]),
                            originator_version=r["originator_version"], topic=r["topic"],
                            state=r["state"])


class MemoryEventLog(_RecorderHead[ApplicationRecorder]):
    """The in-process store: walks the recorder's notifications (development and tests)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def _all(self, window: Window) -> list[Notification]:
        found: list[Notification] = []
        start = window.low
        while True:
            batch = self.recorder.select_notifications(
                start=start, limit=1000, stop=window.high, topics=list(window.topics),
            )
            found += [n for n in batch if _subject_matches(n.originator_id, window.subject_id)]
            if len(batch) < 1000:
                return found[::-1] if window.descending else found
            start = batch[-1].id + 1

    def count(self, window: Window) -> int:
        return len(self._all(window))

    def find(self, message_id: UUID) -> Notification | None:
        """None: the in-process store keeps no index of message ids, and every event counts as
        past it (bootstrap: EventAudit hashes them all; development and tests only)."""
        return None

    def select(self, window: Window, offset: int, limit: int) -> Sequence[Notification]:
        return self._all(window)[offset:offset + limit]


def _subject_matches(originator_id: UUID | str, subject_id: UUID | None) -> bool:
    return subject_id is None or originator_id == subject_id
