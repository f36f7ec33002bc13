"""Waking /api/v1/events streams when this process commits, so they answer at once instead of
at their next look: the write path calls every observer with the position it committed (on a
worker thread), and each waiting request's event is set on its own loop. Commits of other
processes are not seen here: the streams' shared look at the store finds them
(entrypoints/http/events.py). The deployment and runtime-log streams wait on
entrypoints/http/looks.py instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from starlette.requests import Request

from entrypoints.bootstrap import Services
from entrypoints.http.inputs import held_by_app


class Wakeups:
    """Sets every waiting request's event when this process commits (observers run on worker
    threads, so each event is set on its own loop)."""

    def __init__(self, svc: Services) -> None:
        self.services = svc
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        # The newest store position known committed: this process's commits, and what a
        # stream's look at the store found (`seen`). Set before the waiters are woken.
        self.head = 0
        svc.writes.observers.append(self.committed)

    def waiting_count(self) -> int:
        with self._lock:
            return len(self._waiters)

    def seen(self, position: int) -> None:
        with self._lock:
            self.head = max(self.head, position)

    def committed(self, position: int) -> None:
        with self._lock:
            self.head = max(self.head, position)
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that request's loop has just closed
                loop.call_soon_threadsafe(event.set)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[asyncio.Event]:
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def wakeups(request: Request) -> Wakeups:
    """The app's hub, made for the services it runs now."""
    return held_by_app(request, "wakeups", Wakeups)
