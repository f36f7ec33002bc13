"""The agent's reporting loops (host, telemetry, runtime logs, metrics) outlive their own
failures: podman once answered a stats request with an empty body, aiodocker raised a
JSONDecodeError, and the whole agent exited with it (containers orphaned, no heartbeat)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from entrypoints.agent.containers import ENGINE_GLITCHES
from entrypoints.agent.runner import keep_going
from entrypoints.agent.session import AgentFatal


def test_a_loop_that_raises_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def report() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            json.loads("")  # what aiodocker does with podman's empty stats answer
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(keep_going("telemetry", report, pause=0.01))
        for _ in range(500):
            if len(runs) == 3:
                break
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="edge_agent"):
        asyncio.run(main())
    assert runs == [0, 1, 2]
    failures = [r for r in caplog.records if "the telemetry loop failed" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)


def test_a_fatal_error_still_ends_the_agent() -> None:
    async def report() -> None:
        raise AgentFatal("this node was deleted")

    with pytest.raises(AgentFatal):
        asyncio.run(asyncio.wait_for(keep_going("metrics", report, pause=0.01), 5))


def test_an_undecodable_engine_answer_counts_as_a_container_gone_meanwhile() -> None:
    with pytest.raises(ENGINE_GLITCHES):
        json.loads("")
