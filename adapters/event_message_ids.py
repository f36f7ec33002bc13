"""Where each public event is found by its catalog message id (GET /audit-events/{id}).

A message id is uuid5 of the event's originator and version (domain.catalog.message_id): a hash,
which no column of the event's row gives back, so finding one hashed every public event (up to a
cap, past which the lookup was refused). `event_message_ids` maps each id to the event's
position. The relay writes the entries, not the save: it makes every public event's message
anyway, and records the ids of those it published with its position, in one transaction (one
multi-row insert), so the index holds every public event up to the relay's recorded position
and nothing is added to a write's own transaction (an insert there cost a save 10-24% more CPU,
and half as much again for a save of 100 events). The events past that position (the relay's
lag) are found by hashing them (application/event_log.EventAudit.find). The events saved before
the table existed are filled in by a serving process in the background (MessageIdFill, run by
entrypoints/workers/message_id_fill.py), a chunk per transaction from where the last one got
to, up to the log's end as the first start of this release found it; meanwhile lookups hash the
positions it has not reached too. Filling before serving held a start that long unanswered
(about two minutes for ten million events), and a liveness probe killed it over and over.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder
from psycopg.sql import SQL, Composable, Composed, Identifier

from adapters.pg_datastore import RelayTrackingRecorder, pg_table
from application.event_log import LAST_POSITION, topics_of
from application.ports import MessageKey
from domain.catalog import message_id

TABLE = "event_message_ids"
FILL = "event_message_ids_fill"  # one row: (through, until) of the filling of older events
FILL_CHUNK = 20_000  # positions a filling transaction covers
PUBLIC_TOPICS = frozenset(topics_of(()))
SQLITE_INSERT = "INSERT OR IGNORE INTO event_message_ids (message_id, position) VALUES (?, ?)"


def table_statements(postgres: bool, schema: str | None = None) -> list[str]:
    """The tables, as migration 0010 makes them (in `schema` when given)."""
    prefix = f"{Identifier(schema).as_string(None)}." if schema else ""
    if postgres:
        return [f"CREATE TABLE IF NOT EXISTS {prefix}{TABLE} (message_id uuid PRIMARY KEY, "
                "position bigint NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS {prefix}{FILL} (through bigint NOT NULL, "
                "until bigint NOT NULL)"]
    return [f"CREATE TABLE IF NOT EXISTS {TABLE} (message_id TEXT PRIMARY KEY, "
            "position INTEGER NOT NULL) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {FILL} (through INTEGER NOT NULL, "
            "until INTEGER NOT NULL)"]


def id_of(originator_id: UUID | str, version: int, topic: str) -> UUID | None:
    """The message id of a stored event, None if it is not public (no catalog message)."""
    if topic not in PUBLIC_TOPICS:
        return None
    return message_id(originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
                      version)


def public_ids(rows: Iterable[Sequence[Any]]) -> list[MessageKey]:
    """(message id, position) of the public ones of (position, originator, version, topic)
    rows."""
    found = ((id_of(o, v, topic), p) for p, o, v, topic in rows)
    return [(m, p) for m, p in found if m is not None]


def pg_record(ids_table: Composable) -> Composed:
    """The INSERT of entries as two lists (pg_columns): one statement however many. The lists
    go as comma-separated text, split by the server: psycopg dumping a list of UUID objects
    took 1.9 µs of client CPU an entry and 6.1 µs in all, hex text 0.4 and 4.4 (inserts of
    5,000 entries)."""
    return SQL("INSERT INTO {0} (message_id, position) SELECT * FROM "
               "unnest(string_to_array(%s, ',')::uuid[], string_to_array(%s, ',')::bigint[]) "
               "ON CONFLICT DO NOTHING").format(ids_table)


def pg_columns(ids: Sequence[MessageKey]) -> tuple[str, str]:
    return ",".join([m.hex for m, _ in ids]), ",".join([str(p) for _, p in ids])


def sqlite_record_ids(cursor: Any, ids: Sequence[MessageKey]) -> None:
    if ids:
        cursor.executemany(SQLITE_INSERT, [(m.hex, p) for m, p in ids])


class PostgresRelayTracking(RelayTrackingRecorder):
    """The relay's position (without waiting for the flush, as RelayTrackingRecorder) and the
    ids of what it published since it last recorded, in one transaction: a PostgreSQL crash
    takes both back together, and the relay publishes and records those events again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sql_create_statements += [
            Composed([SQL(s)]) for s in table_statements(postgres=True,
                                                         schema=self.datastore.schema)]
        self.sql_record_ids = pg_record(pg_table(self.datastore.schema, TABLE))

    def insert_tracking_and_ids(self, tracking: Tracking, ids: Sequence[MessageKey]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL synchronous_commit TO OFF")
            if ids:
                curs.execute(self.sql_record_ids, pg_columns(ids))
            self._insert_tracking(curs, tracking)


class SQLiteRelayTracking(SQLiteTrackingRecorder):
    """The relay's position and the ids of what it published since, in one transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *table_statements(postgres=False)]

    def insert_tracking_and_ids(self, tracking: Tracking, ids: Sequence[MessageKey]) -> None:
        with self.datastore.transaction(commit=True) as c:
            sqlite_record_ids(c, ids)
            self._insert_tracking(c, tracking)


class MemoryRelayTracking(POPOTrackingRecorder):
    """memory:// keeps no index: its event log finds an id by hashing every public event
    (adapters/event_log.MemoryEventLog; development and tests only)."""

    def insert_tracking_and_ids(self, tracking: Tracking, ids: Sequence[MessageKey]) -> None:
        self.insert_tracking(tracking)


class MessageIdFill:
    """The filling in of the ids of events saved before `event_message_ids` existed: `begin` at
    start (one quick statement: the log's end as the first start of this release found it is
    where the filling ends), then `step` after step in the background, a chunk of positions per
    transaction with its progress (a stop loses nothing, the next start goes on from there),
    while lookups read `progress` to hash the events not filled in yet."""

    def __init__(self, recorder: PostgresApplicationRecorder | SQLiteApplicationRecorder,
                 chunk: int = FILL_CHUNK) -> None:
        self.filling = (_PostgresFill(recorder) if isinstance(recorder, PostgresApplicationRecorder)
                        else _SQLiteFill(recorder))
        self.chunk = chunk
        self.positions = 0  # how many this process filled
        self._done: tuple[int, int] | None = None  # the progress once done

    def begin(self) -> None:
        """Records where the filling ends, if no earlier start did. Run at start, one process at
        a time (bootstrap.making_tables)."""
        self.filling.begin()

    def progress(self) -> tuple[int, int]:
        """(through, until): every public event up to `through` is in the index; those past it
        up to `until` may not be. Not begun: nothing counts as filled. Once done, never read
        again (`until` does not move)."""
        if self._done is not None:
            return self._done
        found = self.filling.progress()
        if found is None:
            return 0, LAST_POSITION
        if found[0] >= found[1]:
            self._done = found
        return found

    def step(self) -> int:
        """Fills the next chunk; how many positions are left to fill after it."""
        done, left = self.filling.step(self.chunk)
        self.positions += done
        return left


def message_id_fill(recorder: ApplicationRecorder, chunk: int = FILL_CHUNK) -> MessageIdFill | None:
    """The filling for `recorder`'s database; None in memory (memory:// keeps no index)."""
    if isinstance(recorder, PostgresApplicationRecorder | SQLiteApplicationRecorder):
        return MessageIdFill(recorder, chunk)
    return None


class _PostgresFill:
    def __init__(self, recorder: PostgresApplicationRecorder) -> None:
        self.recorder = recorder
        schema = recorder.datastore.schema
        self.fill = pg_table(schema, FILL)
        self.events = pg_table(schema, recorder.events_table_name)
        self.select = SQL("SELECT notification_id, originator_id, originator_version, topic "
                          "FROM {0} WHERE notification_id > %s AND notification_id <= %s"
                          ).format(self.events)
        self.record = pg_record(pg_table(schema, TABLE))

    def begin(self) -> None:
        with self.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {0} (through, until) SELECT 0, "
                             "COALESCE(MAX(notification_id), 0) FROM {1} "
                             "WHERE NOT EXISTS (SELECT 1 FROM {0})").format(
                                 self.fill, self.events))

    def progress(self) -> tuple[int, int] | None:
        with self.recorder.datastore.get_connection() as conn:
            row = conn.execute(SQL("SELECT through, until FROM {0}").format(self.fill)).fetchone()
        return (int(row["through"]), int(row["until"])) if row is not None else None

    def step(self, chunk: int) -> tuple[int, int]:
        # The row stays locked to the commit: a second filler (its lock lost with its session)
        # waits, then starts past this chunk instead of doing it again.
        with self.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("SELECT through, until FROM {0} FOR UPDATE").format(self.fill))
            row = curs.fetchone()
            if row is None or row["through"] >= row["until"]:
                return 0, 0
            after, until = int(row["through"]), int(row["until"])
            upto = min(after + chunk, until)
            curs.execute(self.select, (after, upto))
            ids = public_ids((r["notification_id"], r["originator_id"], r["originator_version"],
                              r["topic"]) for r in curs.fetchall())
            curs.execute(self.record, pg_columns(ids))
            curs.execute(SQL("UPDATE {0} SET through = %s").format(self.fill), (upto,))
        return upto - after, until - upto


class _SQLiteFill:
    def __init__(self, recorder: SQLiteApplicationRecorder) -> None:
        self.recorder = recorder
        self.events = recorder.events_table_name

    def begin(self) -> None:
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {FILL} (through, until) SELECT 0, "  # noqa: S608
                      f"COALESCE(MAX(rowid), 0) FROM {self.events} "
                      f"WHERE NOT EXISTS (SELECT 1 FROM {FILL})")

    def progress(self) -> tuple[int, int] | None:
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT through, until FROM {FILL}")  # noqa: S608
            row = c.fetchone()
        return (int(row[0]), int(row[1])) if row is not None else None

    def step(self, chunk: int) -> tuple[int, int]:
        with self.recorder.datastore.transaction(commit=True) as c:
            # A write first takes the file's write lock before the transaction reads: read
            # first, it could not write once the relay's connection had written meanwhile
            # ("database is locked" at once, however long the busy timeout).
            c.execute(f"UPDATE {FILL} SET through = through")  # noqa: S608
            c.execute(f"SELECT through, until FROM {FILL}")  # noqa: S608
            row = c.fetchone()
            if row is None or row[0] >= row[1]:
                return 0, 0
            after, until = int(row[0]), int(row[1])
            upto = min(after + chunk, until)
            c.execute(f"SELECT rowid, originator_id, originator_version, topic "  # noqa: S608
                      f"FROM {self.events} WHERE rowid > ? AND rowid <= ?", (after, upto))
            sqlite_record_ids(c, public_ids(c.fetchall()))
            c.execute(f"UPDATE {FILL} SET through = ?", (upto,))  # noqa: S608
        return upto - after, until - upto
