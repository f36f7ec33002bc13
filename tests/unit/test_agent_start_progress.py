"""A start's health check probes sooner than its interval while the container comes up, without
changing what the policy means; and what the agent says of it while it starts stays bounded and
in order (entrypoints/agent/container_health.py wait_healthy, start_progress.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import msgspec

from application.agent_protocol import DeploymentProgress, HealthCheck
from entrypoints.agent.container_health import FIRST_EARLY, early_delays, wait_healthy
from entrypoints.agent.start_progress import (
    MAX_LINES,
    SHOWN_FAILURES,
    SUMMARY_EVERY,
    ProbeCount,
    StartProgress,
)
from tests.unit.test_agent_container_health import HOST, http_server, in_loop, serving


def check(**fields: Any) -> HealthCheck:
    return msgspec.convert({"port": 8080, "timeout_seconds": 0.5, **fields}, HealthCheck)


def test_early_probes_back_off_from_50_ms_to_the_interval() -> None:
    assert FIRST_EARLY == 0.05
    assert list(itertools.islice(early_delays(1.0), 7)) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert list(itertools.islice(early_delays(0.02), 3)) == [0.02] * 3  # never past it


@in_loop
async def test_a_server_that_binds_late_passes_long_before_the_next_interval() -> None:
    seen: list[str] = []
    statuses: dict[str, int] = {}
    async with serving(http_server(statuses, seen)) as port:
        async def comes_up() -> None:
            await asyncio.sleep(0.2)
            statuses["/"] = 200

        up = asyncio.ensure_future(comes_up())
        began = time.monotonic()
        assert await wait_healthy(check(interval_seconds=5, retries=2), HOST, port) is None
        took = time.monotonic() - began
        await up
    # retries=2: the first probe counted; one more counted failure would have ended it, so
    # the early ones counted for nothing.
    assert 0.2 <= took < 1.0, took  # the interval's schedule alone: 5 s
    assert 3 <= len(seen) <= 5  # at 0, 0.05, 0.15, 0.35 s


@in_loop
async def test_only_the_policys_probes_count_so_a_check_fails_no_sooner() -> None:
    seen: list[str] = []
    found: list[str | None] = []
    async with serving(http_server({}, seen)) as port:
        began = time.monotonic()
        verdict = await wait_healthy(check(interval_seconds=0.4, retries=2), HOST, port,
                                     seen=found.append)
        took = time.monotonic() - began
    assert verdict == "GET / answered 404 (expected 200)"
    assert 0.4 <= took < 0.7, took  # counted at 0 and 0.4 s, as before
    assert len(seen) == len(found) > 2  # early probes at 0.05, 0.15, 0.35 s besides
    assert set(found) == {verdict}


@in_loop
async def test_the_start_period_still_holds_with_early_probes() -> None:
    seen: list[str] = []
    async with serving(http_server({}, seen)) as port:
        began = time.monotonic()
        policy = check(interval_seconds=0.2, retries=1, start_period_seconds=0.5)
        assert await wait_healthy(policy, HOST, port) is not None
        took = time.monotonic() - began
    assert 0.5 <= took < 0.9, took


def test_failed_probes_are_said_first_then_counted() -> None:
    count = ProbeCount(now=100.0)
    lines = [count.seen(f"refused {n}", 100.0 + n) for n in range(1, 8)]
    assert [len(x) for x in lines] == [1] * SHOWN_FAILURES + [0] * (7 - SHOWN_FAILURES)
    assert lines[0] == ["probe 1 failed: refused 1"]
    passed = count.seen(None, 108.5)
    assert passed == ["4 more probe(s) failed, 7 in all; last: refused 7",
                      "probe 8 passed 8.50s after the first; healthy"]
    assert count.ended() == []  # said already


def test_a_long_failing_start_says_a_count_every_so_often_and_at_its_end() -> None:
    count = ProbeCount(now=0.0)
    said = [line for n in range(1, 1001) for line in count.seen("refused", n * 0.1)]
    said += count.ended()
    # 100 s of probes: 3 failures, a count each 30 s, one at the end.
    assert len(said) == SHOWN_FAILURES + int(100 // SUMMARY_EVERY) + 1
    assert said[-1].endswith(", 1000 in all; last: refused")


@in_loop
async def test_lines_go_out_in_order_bounded_and_the_flush_waits_for_them() -> None:
    sent: list[DeploymentProgress] = []

    async def send(request_id: str, body: DeploymentProgress) -> None:
        assert request_id == "0123456789ab"
        await asyncio.sleep(0.01 if len(sent) % 2 else 0.0)  # the first lines are the slowest
        sent.append(body)

    progress = StartProgress("0123456789ab", send)
    progress.note("pull", "image x is on this node already")
    progress.note("start", "container started")
    for n in range(2 * MAX_LINES):
        progress.note("health", f"line {n}")
    await progress.flush()
    assert len(sent) == MAX_LINES
    assert [b.phase for b in sent[:3]] == ["pull", "start", "health"]
    assert [b.message for b in sent[2:4]] == ["line 0", "line 1"]


@in_loop
async def test_a_send_that_fails_neither_stops_the_next_lines_nor_the_start() -> None:
    sent: list[str] = []

    async def send(request_id: str, body: DeploymentProgress) -> None:
        if body.message == "boom":
            raise RuntimeError("admin gone")
        sent.append(body.message)

    progress = StartProgress("0123456789ab", send)
    for message in ("a", "boom", "b"):
        progress.note("start", message)
    await progress.flush()
    assert sent == ["a", "b"]
    await StartProgress("0123456789ab", None).flush()  # an agent run without a sender
