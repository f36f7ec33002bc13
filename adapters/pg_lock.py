"""A PostgreSQL advisory lock held on its own connection: one active projector per database."""

from __future__ import annotations

import hashlib
import logging
import threading

import psycopg

log = logging.getLogger(__name__)


class AdvisoryLock:
    """Session-level pg_try_advisory_lock; lost (and retried) if the connection drops."""

    def __init__(self, conninfo: str, name: str) -> None:
        self.conninfo = conninfo
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        # The scheduler, sweeper and membership threads ask at once: one connection for all.
        self._guard = threading.Lock()

    def held(self) -> bool:
        """True while this process holds the lock; tries to take it when it does not."""
        with self._guard:
            return self._held()

    def _held(self) -> bool:
        try:
            if self._conn is not None and not self._conn.closed:
                self._conn.execute("SELECT 1")
                return True
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            if row and row[0]:
                return True
            self._release()
        except psycopg.Error:
            log.warning("advisory lock connection failed; will retry", exc_info=True)
            self._release()
        return False

    def release(self) -> None:
        with self._guard:
            self._release()

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
