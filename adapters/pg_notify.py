"""Wakes a local worker when any process commits events (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


class NotifyListener:
    """LISTENs on the event store's channel on its own connection; reconnects after failures."""

    def __init__(self, conninfo: str, channel: str, on_notify: Callable[[int], None],
                 application_name: str = "edge-admin:listen") -> None:
        self.conninfo, self.application_name = conninfo, application_name
        self.channel = channel
        self.on_notify = on_notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # a process refused at start never started it
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                     application_name=self.application_name) as conn:
                    conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
                    # Commits while not listening (start, a reconnect) sent no notice to us:
                    # look now rather than at the workers' next poll. Pid 0 is nobody's.
                    self.on_notify(0)
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=0.5, stop_after=1):
                            self.on_notify(notify.pid)  # the committing backend's
            except psycopg.Error:
                log.warning("LISTEN %s failed; retrying", self.channel, exc_info=True)
                self._stop.wait(1.0)
