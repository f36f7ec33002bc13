"""PostgreSQL advisory locks: one active projector, relay and scheduler per database, and one
process per admin id. A process holds all its locks on one connection (a LockSession)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import psycopg

from application.troubles import Trouble

log = logging.getLogger(__name__)


class LockSession:
    """One connection for every session-level advisory lock of this process: a lock is held
    while the session lasts, so if the connection drops, all of them are lost (and retried)."""

    def __init__(self, conninfo: str, application_name: str = "edge-admin:locks",
                 check_every: float = 1.0) -> None:
        """`check_every`: how long a session that answered counts as alive. The relay and the
        projector ask before every batch; a query each time was most of an idle admin's
        queries and one more per write. A lock lost meanwhile (the connection dropped) is
        noticed that much later: another process may then run a batch beside ours, which
        both tolerate (the broker drops repeated messages, a read model's tracking refuses a
        repeated batch)."""
        self.conninfo, self.application_name = conninfo, application_name
        self.check_every = check_every
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._keys: set[int] = set()
        self._checked_at = float("-inf")  # when the session last answered
        # Sessions opened so far: one opened again means the last one dropped (the database
        # restarted, failed over or was away), and with it whatever the process could not
        # record meanwhile, such as heartbeats (Services.listening_since).
        self.opened = 0
        # The scheduler, sweeper, membership, projector and relay threads ask at once.
        self._guard = threading.Lock()
        self._trouble = Trouble(log, "the advisory lock's connection")

    def lock(self, name: str) -> AdvisoryLock:
        return AdvisoryLock(self, name)

    def held(self, key: int) -> bool:
        """True while this session holds `key`; tries to take it when it does not."""
        with self._guard:
            try:
                conn = self._connection()
                if key in self._keys:
                    if time.monotonic() - self._checked_at < self.check_every:
                        return True
                    conn.execute("SELECT 1")  # the session, and so the lock, is still there
                    self._checked_at = time.monotonic()
                    return True
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            except psycopg.Error as exc:
                self._trouble.failed(exc)
                self._close()
                return False
            self._trouble.over()
            if row and row[0]:
                self._keys.add(key)
                self._checked_at = time.monotonic()
                return True
            return False

    def release(self, key: int) -> None:
        """Gives `key` up; the connection goes with the last lock held."""
        with self._guard:
            if key in self._keys and self._conn is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                    self._keys.discard(key)
                except psycopg.Error:
                    self._close()  # closing the session releases its locks all the same
            if not self._keys:
                self._close()

    def close(self) -> None:
        with self._guard:
            self._close()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._keys.clear()
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                         application_name=self.application_name)
            self.opened += 1
        return self._conn

    def _close(self) -> None:
        self._keys.clear()
        self._checked_at = float("-inf")
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def key_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """Session-level pg_try_advisory_lock on the process's LockSession. `also`: names held
    with `name`, all or none (a name older releases used, so that they and this one exclude
    each other too)."""

    def __init__(self, session: LockSession, name: str, *also: str) -> None:
        self.session = session
        self.key = key_of(name)
        self.others = tuple(key_of(n) for n in also)

    def held(self) -> bool:
        """True while this process holds the lock; tries to take it when it does not."""
        if not self.session.held(self.key):
            return False
        for taken, other in enumerate(self.others):
            if not self.session.held(other):
                for key in (self.key, *self.others[:taken]):
                    self.session.release(key)
                return False
        return True

    @property
    def sessions(self) -> int:
        """How many database sessions held (or tried) this process's locks so far."""
        return self.session.opened

    def release(self) -> None:
        for key in (*self.others, self.key):
            self.session.release(key)
