"""The one worker loop: stopping waits for the pass in flight (a cancelled pass would keep its
thread running while the stores close), failures are counted and retried, a full page runs
again at once."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from application.counters import Counters
from entrypoints.workers.loop import every
from projections.status import ProjectionFailure, ProjectionStuckError

EXECUTED, FAILED = "quantum.jobs_executed_total", "quantum.jobs_exceptions_total"


def test_stopping_waits_for_the_pass_in_flight() -> None:
    counters, started, release, finished = Counters(), threading.Event(), threading.Event(), []

    def step() -> None:
        started.set()
        release.wait(10)
        finished.append(True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(every(60, stop, step, counters, "test pass"))
        assert await asyncio.to_thread(started.wait, 10)
        stop.set()
        await asyncio.sleep(0.1)
        assert not loop.done()  # still waiting for the pass, not cancelling it
        release.set()
        await asyncio.wait_for(loop, 10)

    asyncio.run(main())
    assert finished == [True]
    assert (counters.get(EXECUTED), counters.get(FAILED)) == (1, 0)


def test_failures_are_counted_and_retried_each_said_once_a_stuck_read_model_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters, calls = Counters(), []
    stuck = ProjectionStuckError(ProjectionFailure("fleet", 1, 2, "X", "boom", 0.0, 1))
    # a stuck read model, the same failure three times, another, success, the first again
    outcomes: list[Exception | None] = [
        stuck, *[RuntimeError("database away")] * 3, KeyError("x"), None,
        RuntimeError("database away")]

    def step() -> None:
        calls.append(True)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if outcome is not None:
            raise outcome

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(every(0.01, stop, step, counters, "test pass"))
        while len(calls) < len(outcomes):
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(loop, 10)

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert counters.get(FAILED) == len(calls) - 1 and counters.get(EXECUTED) == 1
    logged = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    away = ("ERROR", "test pass failed; retrying: RuntimeError: database away", True)
    assert logged == [away, ("ERROR", "test pass failed; retrying: KeyError: 'x'", True),
                      ("WARNING", "test pass works again", False), away]


def test_a_full_page_runs_again_at_once_and_pause_first_waits() -> None:
    counters, pages = Counters(), [500, 500, 3, 500]

    def step() -> int:
        return pages.pop(0)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(every(60, stop, step, counters, "test pass",
                                         again=lambda n: n >= 500))
        while len(pages) > 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert pages == [500]  # three steps in one pass, then the pause
        stop.set()
        await asyncio.wait_for(loop, 10)
        waiting = asyncio.create_task(every(60, stop, step, counters, "test pass",
                                            pause_first=True))
        await asyncio.wait_for(waiting, 10)  # stopped during the first pause: no step

    asyncio.run(main())
    assert pages == [500] and counters.get(EXECUTED) == 1
