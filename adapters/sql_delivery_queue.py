"""The durable delivery queue in the store's own database (PostgreSQL or SQLite).

Rows are inserted once (the id is the webhook-id; a second enqueue is ignored) and never change
body. Workers lease due rows: PostgreSQL with FOR UPDATE SKIP LOCKED, so several workers share
the work without waiting on each other; SQLite in one BEGIN IMMEDIATE transaction. A lease's
expiry time is also its fencing token: a worker whose lease lapsed (and whose row another worker
took over) can no longer settle it.
"""
# ruff: noqa: S608 - table names are ours; every value is a bound parameter

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from application.deliveries import PENDING, SUCCEEDED, Attempt, Claim, DeliveryRecord, Settlement
from application.ports import Backlog, Clock, NewDelivery

DELIVERIES, ATTEMPTS = "webhook_deliveries", "webhook_delivery_attempts"
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
# Entries of the (webhook, due) index a claim that leaves webhooks out reads at a time, looking
# for the next webhook with deliveries due (SqlDeliveryQueue._due_but).
WALK = 64
_COLUMNS = ("id, webhook_id, message_id, event_type, position, status, attempts, next_attempt_at, "
            "last_status_code, last_error, created_at, updated_at, delivered_at")


def _schema(postgres: bool, t: str, a: str) -> list[str]:
    uuid, blob, time = ("uuid", "bytea", "timestamptz") if postgres else ("TEXT", "BLOB", "TEXT")
    return [
        f"CREATE TABLE IF NOT EXISTS {t} (id {uuid} PRIMARY KEY, webhook_id {uuid} NOT NULL, "
        f"message_id {uuid} NOT NULL, event_type TEXT NOT NULL, position BIGINT NOT NULL, "
        f"body {blob} NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        f"next_attempt_at {time}, lease_until {time}, last_status_code INTEGER, "
        f"last_error TEXT, created_at {time} NOT NULL, updated_at {time} NOT NULL, "
        f"delivered_at {time})",
        # Due deliveries in claim order: deliveries enqueued together share one due time, so
        # an index of the time alone left a claim to sort the whole tie (100,000: 43 ms).
        # `position + 0` (SqlDeliveryQueue._due): an index in the very order of one webhook's
        # claims tempted the planner to walk it, past other webhooks' rows, for those too.
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_due_position_idx ON {t} "
        "(next_attempt_at, (position + 0)) WHERE status = 'pending'",
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_webhook_idx ON {t} (webhook_id, created_at)",
        # One webhook's due deliveries in order (a slow webhook's share), and on PostgreSQL the
        # webhooks with pending ones, each found by one probe (claims that leave slow ones out).
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_webhook_due_idx ON {t} "
        "(webhook_id, next_attempt_at, position) WHERE status = 'pending'",
        # Finished deliveries by when they finished, oldest first: what retention deletes
        # (SqlDeliveryQueue.delete_finished_before), found without reading the table.
        f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_finished_idx ON {t} (updated_at) "
        "WHERE status <> 'pending'",
        f"CREATE TABLE IF NOT EXISTS {a} (delivery_id {uuid} NOT NULL, attempt INTEGER NOT NULL, "
        f"at {time} NOT NULL, status_code INTEGER, error TEXT, duration_ms INTEGER NOT NULL, "
        "PRIMARY KEY (delivery_id, attempt))",
    ]


class SqlDeliveryQueue(ABC):
    """Shared SQL; subclasses supply connections, the placeholder and value conversions."""

    p = "%s"
    postgres = True

    def __init__(self, table: str, attempts_table: str, clock: Clock | None = None) -> None:
        self.t, self.a = table, attempts_table
        self._clock = clock

    @abstractmethod
    def _tx(self, immediate: bool = False) -> AbstractContextManager[Any]:
        """A transaction's cursor (rows by column name); commits on a clean exit."""

    def _read(self) -> AbstractContextManager[Any]:
        """A transaction whose statements all see one state of the tables: a page and its
        count, a delivery and its attempts, agree however retention deletes meanwhile."""
        return self._tx()

    def _time(self, value: datetime | None) -> Any:
        return value

    def _from_time(self, value: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def _uuid(self, value: UUID) -> Any:
        return value

    def _from_uuid(self, value: Any) -> UUID:
        return value if isinstance(value, UUID) else UUID(value)

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    # --- the worker's side --------------------------------------------------------------
    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        p, now = self.p, self._time(self._now())
        sql = (f"INSERT INTO {self.t} (id, webhook_id, message_id, event_type, position, body, "
               f"status, attempts, next_attempt_at, created_at, updated_at) VALUES "
               f"({p}, {p}, {p}, {p}, {p}, {p}, 'pending', 0, {p}, {p}, {p}) "
               "ON CONFLICT (id) DO NOTHING")
        added = 0
        with self._tx() as cur:
            for d in deliveries:
                cur.execute(sql, (self._uuid(d.id), self._uuid(d.webhook_id),
                                  self._uuid(d.message_id), d.event_type, d.position, d.body,
                                  now, now, now))
                added += max(cur.rowcount, 0)
        return added

    def claim(self, now: datetime, limit: int, lease_seconds: float, *,
              exclude: Collection[UUID] = (), only: UUID | None = None) -> list[Claim]:
        p, lease = self.p, now + timedelta(seconds=lease_seconds)
        which, webhooks = "", [self._uuid(w) for w in exclude]
        if webhooks:
            which += f"AND webhook_id NOT IN ({', '.join(p for _ in webhooks)}) "
        if only is not None:
            which += f"AND webhook_id = {p} "
            webhooks.append(self._uuid(only))
        due = self._due(which, one_webhook=only is not None)
        args: tuple[Any, ...] = (now, now, *webhooks, limit)
        if self.postgres and exclude and only is None:
            due, args = self._due_but(webhooks, now, limit)
        returning = "id, webhook_id, message_id, event_type, position, body, attempts"
        with self._tx(immediate=True) as cur:
            if self.postgres:
                cur.execute(f"UPDATE {self.t} SET lease_until = {p} WHERE id IN "
                            f"({due} FOR UPDATE SKIP LOCKED) RETURNING {returning}",
                            (lease, *args))
                rows = cur.fetchall()
            else:
                cur.execute(due, (self._time(now), self._time(now), *webhooks, limit))
                ids = [r["id"] for r in cur.fetchall()]
                marks = ", ".join(p for _ in ids)
                rows = []
                if ids:
                    cur.execute(f"UPDATE {self.t} SET lease_until = {p} WHERE id IN ({marks}) "
                                f"RETURNING {returning}", (self._time(lease), *ids))
                    rows = cur.fetchall()
        token = self._from_time(self._time(lease))
        assert token is not None
        claims = [Claim(self._from_uuid(r["id"]), self._from_uuid(r["webhook_id"]),
                        self._from_uuid(r["message_id"]), r["event_type"], r["position"],
                        bytes(r["body"]), r["attempts"], token) for r in rows]
        return sorted(claims, key=lambda c: c.position)

    def _due(self, which: str = "", one_webhook: bool = False) -> str:
        """Due, unleased deliveries in order (due time, then log position); `which` narrows
        them to some webhooks. Read in that order from the due index, whose second column is
        `position + 0`: one webhook's are read from the (webhook, due) index instead, and an
        index of plain `position` matched their order as well, so a plan made for any webhook
        (a prepared claim, a webhook the statistics do not single out) walked it past the
        other webhooks' rows (a slow webhook's backlog of 60,000: 15 ms a claim, not 0.1)."""
        p, position = self.p, "position" if one_webhook else "position + 0"
        return (f"SELECT id FROM {self.t} WHERE status = 'pending' AND next_attempt_at <= {p} "
                f"AND (lease_until IS NULL OR lease_until < {p}) {which}"
                f"ORDER BY next_attempt_at, {position} LIMIT {p}")

    def _due_but(self, excluded: list[Any], now: datetime,
                 limit: int) -> tuple[str, tuple[Any, ...]]:
        """PostgreSQL: the first due deliveries of every webhook but the `excluded` ones, in
        order, and the statement's arguments. A scan of the due index in order walked past
        every due delivery of the slow webhooks left out (they come due first: a backlog of
        100,000 made each claim 28 ms), so the webhooks with due deliveries are found in the
        (webhook, due) index, and each one's first due ones read there.

        They are found a window of WALK entries at a time: the first due entry of a webhook
        not left out, or else the window's last webhook, which none of its entries were (a
        webhook's first entry is its earliest); the next window begins after it. One probe
        per webhook with deliveries owed made 2,000 webhooks each holding a retry cost a
        claim 2,000 probes (11.6 ms, bench.delivery_claims); a window passes them 64 at a time
        (4.9 ms), and the retries of a webhook whose receiver is down in one step however
        many; when every webhook has some due, each costs a probe as before."""
        t, p = self.t, self.p

        def step(after: str) -> str:
            window = (f"SELECT webhook_id, next_attempt_at FROM {t} WHERE status = 'pending' "
                      f"{after}ORDER BY webhook_id, next_attempt_at, position LIMIT {WALK}")
            return (f"SELECT webhook_id, due FROM ((SELECT webhook_id, true AS due FROM "
                    f"({window}) k WHERE next_attempt_at <= {p} AND webhook_id <> ALL({p}) "
                    f"LIMIT 1) UNION ALL (SELECT webhook_id, false FROM ({window}) k "
                    f"ORDER BY webhook_id DESC LIMIT 1)) s LIMIT 1")

        sql = (f"SELECT id FROM {t} WHERE id IN (WITH RECURSIVE w(webhook_id, due) AS (("
               f"{step('')}) UNION ALL SELECT n.webhook_id, n.due FROM w CROSS JOIN LATERAL ("
               f"{step('AND webhook_id > w.webhook_id ')}) n) "
               f"SELECT d.id FROM w CROSS JOIN LATERAL (SELECT id, next_attempt_at, position "
               f"FROM {t} WHERE webhook_id = w.webhook_id AND status = 'pending' "
               f"AND next_attempt_at <= {p} AND (lease_until IS NULL OR lease_until < {p}) "
               f"ORDER BY next_attempt_at, position LIMIT {p}) d WHERE w.due "
               f"ORDER BY d.next_attempt_at, d.position LIMIT {p}) "
               f"AND status = 'pending' AND (lease_until IS NULL OR lease_until < {p})")
        return sql, (now, excluded, now, excluded, now, now, limit, limit, now)

    def settle(self, claim: Claim, settlement: Settlement) -> bool:
        p, s, attempt = self.p, settlement, settlement.attempt
        sets = [f"status = {p}", f"next_attempt_at = {p}", "lease_until = NULL",
                f"last_error = {p}", f"updated_at = {p}", f"delivered_at = {p}"]
        values: list[Any] = [s.status, self._time(s.next_attempt_at), s.error, self._time(s.at),
                             self._time(s.at if s.status == SUCCEEDED else None)]
        if attempt is not None:
            sets += ["attempts = attempts + 1", f"last_status_code = {p}"]
            values.append(attempt.status_code)
        with self._tx() as cur:
            cur.execute(f"UPDATE {self.t} SET {', '.join(sets)} WHERE id = {p} "
                        f"AND status = 'pending' AND lease_until = {p} RETURNING attempts",
                        (*values, self._uuid(claim.id), self._time(claim.lease)))
            row = cur.fetchone()
            if row is None:
                return False
            if attempt is not None:
                cur.execute(f"INSERT INTO {self.a} (delivery_id, attempt, at, status_code, error, "
                            f"duration_ms) VALUES ({p}, {p}, {p}, {p}, {p}, {p}) "
                            "ON CONFLICT DO NOTHING",
                            (self._uuid(claim.id), row["attempts"], self._time(attempt.at),
                             attempt.status_code, attempt.error, attempt.duration_ms))
        return True

    # --- retention ------------------------------------------------------------------------
    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` deliveries finished before `cutoff`, oldest first, and their
        attempts, in one transaction. Finished rows are never claimed nor settled again, so
        the batch waits on no worker and no worker waits on it (on SQLite, as any write, it
        holds the database's write lock while it runs)."""
        p, finished = self.p, "status <> 'pending'"
        oldest = (f"SELECT id FROM {self.t} WHERE {finished} AND updated_at < {p} "
                  f"ORDER BY updated_at LIMIT {p}")
        with self._tx(immediate=True) as cur:
            if self.postgres:
                cur.execute(f"WITH gone AS (DELETE FROM {self.t} WHERE id IN ({oldest} FOR "
                            f"UPDATE SKIP LOCKED) AND {finished} RETURNING id), attempts AS "
                            f"(DELETE FROM {self.a} WHERE delivery_id IN (SELECT id FROM gone)) "
                            "SELECT count(*) AS n FROM gone", (cutoff, limit))
                return int(cur.fetchone()["n"])
            cur.execute(oldest, (self._time(cutoff), limit))
            ids = [r["id"] for r in cur.fetchall()]
            if ids:
                marks = ", ".join(p for _ in ids)
                cur.execute(f"DELETE FROM {self.a} WHERE delivery_id IN ({marks})", ids)
                cur.execute(f"DELETE FROM {self.t} WHERE id IN ({marks})", ids)
            return len(ids)

    # --- queries --------------------------------------------------------------------------
    def page(
        self, webhook_id: UUID, *, status: str | None = None, event_type: str | None = None,
        page: int = 1, page_size: int = 20,
    ) -> tuple[list[DeliveryRecord], int]:
        """A webhook's deliveries, newest first, with their attempts; and how many match."""
        p = self.p
        where, params = f"webhook_id = {p}", [self._uuid(webhook_id)]
        for column, value in (("status", status), ("event_type", event_type)):
            if value is not None:
                where += f" AND {column} = {p}"
                params.append(value)
        with self._read() as cur:
            cur.execute(f"SELECT COUNT(*) AS n FROM {self.t} WHERE {where}", params)
            total = int(cur.fetchone()["n"])
            cur.execute(f"SELECT {_COLUMNS} FROM {self.t} WHERE {where} ORDER BY created_at DESC, "
                        f"position DESC, id DESC LIMIT {p} OFFSET {p}",
                        [*params, page_size, (page - 1) * page_size])
            rows = cur.fetchall()
            logs = self._attempts(cur, [r["id"] for r in rows])
        return [self._record(r, logs.get(self._from_uuid(r["id"]), ())) for r in rows], total

    def get(self, delivery_id: UUID) -> DeliveryRecord | None:
        with self._read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM {self.t} WHERE id = {self.p}",
                        (self._uuid(delivery_id),))
            row = cur.fetchone()
            logs = self._attempts(cur, [row["id"]]) if row is not None else {}
        return self._record(row, logs.get(delivery_id, ())) if row is not None else None

    def counts(self, webhook_id: UUID | None = None) -> dict[str, int]:
        """Deliveries per status (for one webhook, or all)."""
        where = f" WHERE webhook_id = {self.p}" if webhook_id is not None else ""
        params = (self._uuid(webhook_id),) if webhook_id is not None else ()
        totals = {"pending": 0, "succeeded": 0, "failed": 0}
        with self._tx() as cur:
            cur.execute(f"SELECT status, COUNT(*) AS n FROM {self.t}{where} GROUP BY status",
                        params)
            for row in cur.fetchall():
                totals[row["status"]] = int(row["n"])
        return totals

    def backlog(self) -> Backlog:
        """Pending deliveries and the oldest one's enqueue time, in one aggregate query (the
        pending rows are those of the partial due index)."""
        with self._tx() as cur:
            cur.execute(f"SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM {self.t} "
                        "WHERE status = 'pending'")
            row = cur.fetchone()
        return Backlog(int(row["n"]), self._from_time(row["oldest"]))

    def _attempts(self, cur: Any, ids: list[Any]) -> dict[UUID, tuple[Attempt, ...]]:
        if not ids:
            return {}
        marks = ", ".join(self.p for _ in ids)
        cur.execute(f"SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM "
                    f"{self.a} WHERE delivery_id IN ({marks}) ORDER BY delivery_id, attempt", ids)
        logs: dict[UUID, list[Attempt]] = {}
        for r in cur.fetchall():
            at = self._from_time(r["at"])
            assert at is not None
            logs.setdefault(self._from_uuid(r["delivery_id"]), []).append(
                Attempt(r["attempt"], at, r["status_code"], r["error"], r["duration_ms"]))
        return {key: tuple(value) for key, value in logs.items()}

    def _record(self, r: Any, log: tuple[Attempt, ...]) -> DeliveryRecord:
        created, updated = self._from_time(r["created_at"]), self._from_time(r["updated_at"])
        assert created is not None and updated is not None
        return DeliveryRecord(
            id=self._from_uuid(r["id"]), webhook_id=self._from_uuid(r["webhook_id"]),
            message_id=self._from_uuid(r["message_id"]), event_type=r["event_type"],
            position=r["position"], status=r["status"], attempts=r["attempts"],
            next_attempt_at=self._from_time(r["next_attempt_at"]) if r["status"] == PENDING
            else None,
            last_status_code=r["last_status_code"], last_error=r["last_error"],
            created_at=created, updated_at=updated,
            delivered_at=self._from_time(r["delivered_at"]), attempt_log=log,
        )


class PostgresDeliveryQueue(SqlDeliveryQueue):
    """PostgreSQL: connections from the process's pool (the event store's, unless `owned`);
    tables in its schema."""

    def __init__(self, datastore: PostgresDatastore, clock: Clock | None = None,
                 owned: bool = False) -> None:
        prefix = f'"{datastore.schema}".'
        super().__init__(prefix + DELIVERIES, prefix + ATTEMPTS, clock)
        self.datastore, self.owned = datastore, owned
        with self._tx() as cur:
            # Several processes may start at once; CREATE ... IF NOT EXISTS alone can still race.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.t,))
            for statement in _schema(True, self.t, self.a):
                cur.execute(statement)

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as cur:
            yield cur  # rows by column name; commits on a clean exit, rolls back on an exception

    @contextmanager
    def _read(self) -> Iterator[Any]:
        # Read committed gave each statement its own snapshot: a batch of retention committed
        # between them left a page's total above its rows, or a delivery without its attempts.
        with self.datastore.transaction(commit=False) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cur

    def close(self) -> None:
        if self.owned:
            self.datastore.close()


class SQLiteDeliveryQueue(SqlDeliveryQueue):
    """SQLite: one connection; claims take the write lock up front (BEGIN IMMEDIATE)."""

    p = "?"
    postgres = False

    def __init__(self, path: str, clock: Clock | None = None, lock_timeout: float = 30.0) -> None:
        super().__init__(DELIVERIES, ATTEMPTS, clock)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=lock_timeout, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._tx(immediate=True) as cur:
            for statement in _schema(False, self.t, self.a):
                cur.execute(statement)

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield cur
            except BaseException:
                self._conn.rollback()
                raise
            self._conn.commit()
            cur.close()

    def _time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return f"{value.year:04d}" + value.strftime(_TIME[2:])

    def _from_time(self, value: Any) -> datetime | None:
        return datetime.strptime(value, _TIME).replace(tzinfo=UTC) if value is not None else None

    def _uuid(self, value: UUID) -> Any:
        return str(value)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
