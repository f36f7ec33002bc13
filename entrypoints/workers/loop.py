"""The one loop every periodic worker runs: a pass in the thread pool, counted, then a pause.

A pass is awaited, never cancelled: a cancelled `run_in_threadpool` leaves its thread running,
and the lifespan then closed the stores under that thread (a segfault on SQLite). So `stop`
ends the loop between passes only, and shutdown waits for the pass in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from application.counters import Counters
from application.troubles import Trouble
from application.wakeup import pause
from projections.status import ProjectionStuckError, ReadModelBehindError, is_store_trouble

log = logging.getLogger(__name__)
T = TypeVar("T")


def _once(_: object) -> bool:
    return False


async def every(  # noqa: PLR0913
    interval: float,
    stop: asyncio.Event,
    step: Callable[[], T],
    counters: Counters,
    what: str,
    *,
    again: Callable[[T], bool] = _once,
    pause_first: bool = False,
) -> None:
    """Runs `step` every `interval` seconds until `stop`; `again(result)` asks for another step
    at once (a full page was handled). A failed pass is counted and logged, then retried next
    time; a stuck read model is only counted (the projector logs why, once)."""
    if pause_first:
        await pause(stop, interval)
    trouble = Trouble(log, what)
    while not stop.is_set():
        try:
            while again(await run_in_threadpool(step)) and not stop.is_set():
                pass
            counters.add("quantum.jobs_executed_total")
            trouble.over()
        except (ProjectionStuckError, ReadModelBehindError):
            counters.add("quantum.jobs_exceptions_total")
        except Exception as exc:  # noqa: BLE001 - counted, said once, retried next time
            counters.add("quantum.jobs_exceptions_total")
            # A database that is away is no bug: its one line says all there is to say.
            trouble.failed(exc, traceback=not is_store_trouble(exc))
        await pause(stop, interval)
