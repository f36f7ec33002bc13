"""Wakes agents' long polls when this process records work for their node.

Rung from worker threads (the write path runs there); waiters are asyncio tasks of the HTTP
server. Work recorded by another admin process is found by the poll's periodic re-check.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID


class WorkDoorbell:
    """WorkNotifier port: one asyncio.Event per waiting agent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[UUID, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def ring(self, node_ids: Iterable[UUID]) -> None:
        with self._lock:
            # Not popped: a poll re-arms by clearing its flag and keeps listening until it ends.
            woken = [w for n in node_ids for w in self._waiters.get(n, [])]
        for loop, flag in woken:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:
                pass  # that loop has closed: its poll is gone anyway

    @contextmanager
    def listen(self, node_id: UUID) -> Iterator[asyncio.Event]:
        """Arms a flag before the caller looks for work, so no ring in between is missed."""
        flag = asyncio.Event()
        entry = (asyncio.get_running_loop(), flag)
        with self._lock:
            self._waiters.setdefault(node_id, []).append(entry)
        try:
            yield flag
        finally:
            with self._lock:
                waiting = self._waiters.get(node_id, [])
                if entry in waiting:
                    waiting.remove(entry)
                if not waiting:
                    self._waiters.pop(node_id, None)
