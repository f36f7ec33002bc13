"""Other processes' news by PostgreSQL LISTEN/NOTIFY: their commits (the event store's channel,
waking the projector and the relay; a commit that gave nodes work names them in its payload)
and work recorded outside a commit that could say so (the work bell's channel); both wake the
long polls of those nodes' agents here."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from application.troubles import Trouble

log = logging.getLogger(__name__)

# A notice: the notifying backend's pid and the payload. Called with (0, "") each time the
# listener (re)connects: notices sent while it was not listening reached nobody.
Handler = Callable[[int, str], None]


class NotifyListener:
    """LISTENs on some channels on one connection of its own; reconnects after failures."""

    def __init__(self, conninfo: str, channels: Mapping[str, Handler],
                 application_name: str = "edge-admin:listen") -> None:
        self.conninfo, self.application_name = conninfo, application_name
        self.channels = dict(channels)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # a process refused at start never started it
            self._thread.join(timeout=2)

    def _run(self) -> None:
        trouble = Trouble(log, f"LISTEN {', '.join(self.channels)}")
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                     application_name=self.application_name) as conn:
                    for channel in self.channels:
                        conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))
                    trouble.over()
                    # Notices sent while not listening (start, a reconnect) reached nobody:
                    # look now rather than at the next poll. Pid 0 is nobody's.
                    for handler in self.channels.values():
                        handler(0, "")
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=0.5, stop_after=1):
                            heard = self.channels.get(notify.channel)
                            if heard is not None:
                                heard(notify.pid, notify.payload)
            except psycopg.Error as exc:
                trouble.failed(exc)
                self._stop.wait(1.0)


class NotifySender:
    """NOTIFYs sent from a thread of its own, on a connection of the store's pool borrowed per
    batch: a caller (a request on the event loop, the group commit's writer) never waits for
    the database. What queued while the last batch was sent goes out in one statement, after
    `merge` (say, one notice naming the nodes of many) has folded it. A notice that fails is
    logged and dropped; its receivers still look on their own at AGENT_POLL_RECHECK_SECONDS."""

    def __init__(self, datastore: PostgresDatastore, channel: str,
                 merge: Callable[[list[str]], list[str]] | None = None) -> None:
        self.datastore, self.channel = datastore, channel
        self.merge = merge or (lambda payloads: list(dict.fromkeys(payloads)))
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"notify-{channel}", daemon=True)
        self._lock = threading.Lock()

    def send(self, payload: str) -> None:
        with self._lock:
            if self._thread.ident is None:
                self._thread.start()
        self._queue.put(payload)

    def close(self) -> None:
        if self._thread.ident is not None:
            self._queue.put(None)
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():  # what queued meanwhile goes in the same statement
                batch.append(self._queue.get())
            payloads = self.merge([p for p in batch if p is not None])
            if payloads:
                try:
                    # One autocommit statement: its NOTIFYs are delivered as it commits.
                    with self.datastore.get_connection() as c:
                        c.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                                  (self.channel, payloads))
                except psycopg.Error:
                    log.warning("NOTIFY %s failed", self.channel, exc_info=True)
            if None in batch:
                return
