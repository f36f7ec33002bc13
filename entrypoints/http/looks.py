"""One look a poll period at what the deployment and runtime-log streams follow, shared by
every open stream and follow=true page of this process (as /api/v1/events/stream shares its look
at the store's head: entrypoints/http/events.py).

They follow the read model (a deployment's events) and agents' telemetry: a deployment's runtime
log lines and its progress lines, which other admin processes write as their agents report, with
no store position to look at. Each reads only when a mark of what it follows moved since its
last read:

- the read model: the projector's position, kept in memory by every process (it projects, or it
  follows the one that does, within its poll period or at once on the commit's NOTIFY); a move
  wakes the followers at once;
- a deployment's log lines: its head's last sequence (one row per deployment, written in the
  same transaction as its lines); its progress lines: the last one's number (numbered as they
  are committed). Both are read for every followed deployment together, in one query a poll period,
  and this process's own writes bump them at once (`touched`).

While anyone follows, a task of the process looks every poll period and wakes the followers
whose mark moved; a follower waits for that (or its heartbeat), not on a timer of its own. A
follower clears its wake-up before it takes the marks, and takes them before the read they allow,
so the read misses nothing committed before their look; what is committed after it moves a
later look's mark, which wakes it. A mark moved by both a bump and the look
costs one read for nothing, never a line. (A table's newest id or time would not do: those are
taken before the commit, so a row can become visible after a newer one was seen, and the
processes' clocks differ.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence

from starlette.requests import Request

from entrypoints.bootstrap import Services
from entrypoints.http.inputs import held_by_app
from projections.status import STORE_TROUBLE, is_store_trouble

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25  # how soon another process's telemetry is seen
PER_READ = 200  # deployments a look asks about in one statement
READ_MODEL = ("read-model", "")
Key = tuple[str, str]  # ("logs" | "progress", request_id), or READ_MODEL
Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


def logs(request_id: str) -> Key:
    return ("logs", request_id)


def progress(request_id: str) -> Key:
    return ("progress", request_id)


class Looks:
    def __init__(self, svc: Services, poll: float = POLL_SECONDS) -> None:
        self.services, self.poll = svc, poll
        self.looks = 0  # looks at the database, for every follower together
        self._lock = threading.Lock()
        self._followed: Counter[Key] = Counter()
        self._waiters: dict[Key, set[Waiter]] = {}
        self._bumps: Counter[Key] = Counter()  # this process's writes
        self._seen: dict[Key, Hashable] = {}  # what the last look found
        self._looking: asyncio.Task[None] | None = None  # looks while anyone follows
        svc.projector.moved.append(lambda: self.touched(READ_MODEL, bump=False))

    def touched(self, key: Key, *, bump: bool = True) -> None:
        """This process committed what `key` marks: its followers here read now."""
        with self._lock:
            if bump and key in self._followed:  # else whoever follows it later reads first
                self._bumps[key] += 1
            woken = set(self._waiters.get(key, ()))
        _wake(woken)

    @contextlib.contextmanager
    def following(self, keys: Sequence[Key]) -> Iterator[asyncio.Event]:
        """An event set when a mark of `keys` moves (this process touched it, or a look found it
        moved), until the caller leaves; the looks go on while anyone follows."""
        loop = asyncio.get_running_loop()
        waiter = (loop, asyncio.Event())
        with self._lock:
            for key in keys:
                self._followed[key] += 1
                self._waiters.setdefault(key, set()).add(waiter)
            looking = self._looking
            if looking is None or looking.done() or looking.get_loop() is not loop:
                self._looking = loop.create_task(self._look_on())
        try:
            yield waiter[1]
        finally:
            with self._lock:
                for key in keys:
                    self._followed[key] -= 1
                    if not self._followed[key]:
                        del self._followed[key]
                        self._seen.pop(key, None)
                        self._bumps.pop(key, None)
                    waiting = self._waiters.get(key, set())
                    waiting.discard(waiter)
                    if not waiting:
                        self._waiters.pop(key, None)

    def held(self) -> int:
        """How many marks it keeps (none once nobody follows)."""
        with self._lock:
            return len(self._followed) + len(self._seen) + len(self._bumps)

    def marks(self, keys: Sequence[Key]) -> tuple[Hashable, ...]:
        """Where `keys` stand now. A caller clears its event before it asks, then reads: a mark
        that moves later sets the event."""
        with self._lock:
            return tuple((self._position() if key == READ_MODEL else self._seen.get(key),
                          self._bumps[key]) for key in keys)

    def _position(self) -> Hashable:
        projector = self.services.projector
        return projector.position if projector.running() else self._seen.get(READ_MODEL)

    async def _look_on(self) -> None:
        """One look a poll period while anyone follows, for all of them."""
        while True:
            with self._lock:
                if not self._followed:
                    self._looking = None
                    return
            try:
                await self._read()
            except Exception:  # a bug: said, and the next period looks again
                log.exception("looking at what the streams follow failed")
            await asyncio.sleep(self.poll)

    async def _read(self) -> None:
        pushed = self.services.projector.running()  # its moves are told: nothing to look at
        with self._lock:
            followed = [k for k in self._followed if k != READ_MODEL or not pushed]
        if not followed:
            return
        self.looks += 1
        try:
            found = await asyncio.to_thread(self._marks, followed)
        except STORE_TROUBLE as exc:  # the database is away: the marks stand until it is back
            if not is_store_trouble(exc):
                raise
            return
        with self._lock:  # the keys still followed whose mark moved
            moved = [k for k, v in found.items() if k in self._followed and self._seen.get(k) != v]
            self._seen.update((k, found[k]) for k in moved)
            woken = {w for k in moved for w in self._waiters.get(k, ())}
        _wake(woken)

    def _marks(self, followed: list[Key]) -> dict[Key, Hashable]:
        svc = self.services
        found: dict[Key, Hashable] = dict.fromkeys(followed)
        for kind, read in (("logs", svc.runtime_logs.heads),
                           ("progress", svc.resource_reads.progress_marks)):
            ids = [rid for k, rid in followed if k == kind]
            for start in range(0, len(ids), PER_READ):
                found.update({(kind, rid): mark
                              for rid, mark in read(ids[start:start + PER_READ]).items()})
        if READ_MODEL in found:
            found[READ_MODEL] = svc.projector.applied()
        return found


def _wake(waiters: set[Waiter]) -> None:
    for loop, event in waiters:
        with contextlib.suppress(RuntimeError):  # that request's loop has just closed
            loop.call_soon_threadsafe(event.set)


def looks(request: Request) -> Looks:
    """The app's looks, made for the services it runs now."""
    return held_by_app(request, "looks", Looks)
