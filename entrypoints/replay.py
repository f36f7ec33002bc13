"""Rebuild every read model from the event store, printing progress and events/s."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from entrypoints.bootstrap import Services
from projections.runner import rare_collections


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
    with worker.replaying(REPLAY_PAGE), rare_collections():
        while count := worker.step():
            total += count
            worker.collect_now_and_then()
            if progress is not None:
                progress(total, time.perf_counter() - started)
    worker.clear_failure()  # a failure recorded earlier is behind us now
    return ReplayReport(total, time.perf_counter() - started)

