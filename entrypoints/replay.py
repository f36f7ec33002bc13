"""Rebuild every read model from the event store, printing progress and events/s."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from entrypoints.bootstrap import Services


class ProjectorBusyError(RuntimeError):
    """Replay refused because a running projector holds the lock."""


@dataclass(frozen=True)
class ReplayReport:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


Progress = Callable[[int, float], None]

# Events a replay applies per transaction: large enough that a row's changes meet in one page
# and fold into one statement, small enough to hold a page and the next (read ahead) in memory.
REPLAY_PAGE = 10_000
# Events between the replay's own collections of cyclic garbage (see _rare_collections).
COLLECT_EVERY = 200_000


def rebuild(services: Services, progress: Progress | None = None) -> ReplayReport:
    """Empties the projection-owned tables and processes the whole log again.

    Takes the projector lock first: rebuilding under a live projector would corrupt both.
    """
    if services.lock is not None and not services.lock.held():
        raise ProjectorBusyError(
            "another process is projecting this database; stop `edge-admin serve` / "
            "`edge-admin projections run` before replaying"
        )
    worker = services.projector
    services.view.reset(worker.application_name)
    worker.position = 0
    started = time.perf_counter()
    total = 0
    with worker.replaying(REPLAY_PAGE), _rare_collections():
        while count := worker.step():
            total += count
            if total // COLLECT_EVERY != (total - count) // COLLECT_EVERY:
                gc.collect()
            if progress is not None:
                progress(total, time.perf_counter() - started)
    worker.clear_failure()  # a failure recorded earlier is behind us now
    return ReplayReport(total, time.perf_counter() - started)


@contextmanager
def _rare_collections() -> Iterator[None]:
    """A replay allocates millions of short-lived objects (events, changes, rows), nearly all
    freed by reference counting; the cyclic collector, run every 700 allocations by default,
    kept rescanning each page's and cost a third of the replay's CPU. Every 50,000 it still
    cost a fifth: each collection walked the pages in hand (a page and the one read ahead)
    and found nothing (20 collections over 100,000 events freed no object). Meanwhile it runs
    only when the loop calls it (every COLLECT_EVERY events), over what was allocated since the
    replay began (older objects are frozen)."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()
