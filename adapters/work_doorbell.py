"""Wakes agents' long polls when work is recorded for their node, in this process or another.

Rung from worker threads and from the event loop (where the write path answers); waiters are
asyncio tasks of the HTTP server. A ring also goes out to the other admin processes on the
same PostgreSQL database, whose listeners hand it to their own bell (`heard`): with the commit
that recorded the work, as the payload of the event store's NOTIFY (`notices`), or, for work
recorded outside a decision or a store that cannot carry them, by a NOTIFY of its own
(`broadcast`: adapters/pg_notify.py). Without a broadcast (SQLite, memory) work recorded by
another process is found by the poll's periodic re-check.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from uuid import UUID

# A notice carries at most this many node ids (36 characters and a comma each: PostgreSQL takes
# payloads under 8,000 bytes); a ring of more than ANY_NODE_AFTER wakes every poll instead.
IDS_PER_NOTICE = 200
ANY_NODE_AFTER = 2_000
EVERY_NODE = "*"


def notices(origin: str, node_ids: Sequence[UUID | str]) -> list[str]:
    """The payloads of one ring: `<origin> <id>,<id>,...`, or `<origin> *` for many nodes."""
    if len(node_ids) > ANY_NODE_AFTER:
        return [f"{origin} {EVERY_NODE}"]
    return [f"{origin} " + ",".join(str(n) for n in node_ids[i:i + IDS_PER_NOTICE])
            for i in range(0, len(node_ids), IDS_PER_NOTICE)]


def merged(payloads: list[str]) -> list[str]:
    """Several rings' notices as few as carry the same nodes: under load every command rings
    its nodes, and the sender sends what queued meanwhile together (adapters/pg_notify.py)."""
    by_origin: dict[str, dict[str, None] | None] = {}  # None: every node
    for payload in payloads:
        origin, _, ids = payload.partition(" ")
        known = by_origin.setdefault(origin, {})
        if ids == EVERY_NODE or known is None:
            by_origin[origin] = None
        else:
            known.update(dict.fromkeys(ids.split(",")))
    return [p for origin, ids in by_origin.items()
            for p in ([f"{origin} {EVERY_NODE}"] if ids is None else notices(origin, list(ids)))]


class WorkDoorbell:
    """WorkNotifier port: one asyncio.Event per waiting agent."""

    def __init__(self, broadcast: Callable[[str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[UUID, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._broadcast = broadcast
        # Tells this process's notices from others' (a listener hears its own process too).
        self.origin = uuid.uuid4().hex[:12]

    def ring(self, node_ids: Iterable[UUID]) -> None:
        nodes = list(dict.fromkeys(node_ids))
        if not nodes:
            return
        self.ring_here(nodes)
        if self._broadcast is not None:
            for payload in notices(self.origin, nodes):
                self._broadcast(payload)

    def notices(self, node_ids: Sequence[UUID]) -> list[str]:
        """The payloads a commit carries to the other processes' bells (`heard` there): none
        without a broadcast, where no other process listens."""
        if self._broadcast is None or not node_ids:
            return []
        return notices(self.origin, list(dict.fromkeys(node_ids)))

    def heard(self, pid: int, payload: str) -> None:
        """A notice on the work channel. An empty one follows a (re)connect of the listener:
        rings may have been missed meanwhile, so every poll here looks again."""
        origin, _, ids = payload.partition(" ")
        if origin == self.origin:
            return
        if not payload or ids == EVERY_NODE:
            self.ring_here(None)
            return
        try:
            nodes = [UUID(text) for text in ids.split(",")]
        except ValueError:  # not ours: someone else NOTIFYs on this channel
            return
        self.ring_here(nodes)

    def ring_here(self, node_ids: Iterable[UUID] | None) -> None:
        """Wakes this process's polls for `node_ids` (None: every poll)."""
        with self._lock:
            # Not popped: a poll re-arms by clearing its flag and keeps listening until it ends.
            if node_ids is None:
                woken = [w for waiting in self._waiters.values() for w in waiting]
            else:
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
