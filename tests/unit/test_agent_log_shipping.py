"""The runtime log shipper's rounds against an engine that stamps whole seconds (podman 4):
every line reaches the admin once, in order, however the rounds fall within a second, and
however often a batch is sent again (its answer lost) or the agent restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.memory_views import MemoryTableView
from adapters.runtime_log_store import ViewRuntimeLogStore
from application.agent_protocol import RuntimeLogBatch
from application.runtime_logs import places
from entrypoints.agent import log_shipping
from entrypoints.agent.log_shipping import Cursor, advanced, mark, new_lines
from projections.runtime_logs import RUNTIME_LOG_TABLES
from tests.fakes import WholeSecondEngine

START = int(datetime(2026, 12, 4, 15, 31, 14, tzinfo=UTC).timestamp())


async def ship_round(engine: WholeSecondEngine, after: Cursor | None,
                     shipped: list[str]) -> Cursor | None:
    found = await new_lines(engine, after)
    shipped += [line.message for _, line in found]
    return advanced(after, found)


def test_lines_written_later_in_the_second_of_the_last_shipped_one_are_shipped() -> None:
    async def play() -> list[str]:
        engine, shipped = WholeSecondEngine(), list[str]()
        engine.write("stdout", START, "tick 0")
        after = await ship_round(engine, None, shipped)
        engine.write("stdout", START, "tick 1")  # same second: it was dropped
        engine.write("stderr", START, "oops")
        after = await ship_round(engine, after, shipped)
        engine.write("stdout", START + 1, "tick 2")
        await ship_round(engine, after, shipped)
        return shipped

    assert asyncio.run(play()) == ["tick 0", "tick 1", "oops", "tick 2"]


# Each step: write a line (stream, seconds after the last) or run a shipping round.
STEPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["stdout", "stderr"]), st.integers(0, 1)),
    st.just("round")), max_size=40)


@given(STEPS)
def test_every_line_is_shipped_once_in_its_streams_order(steps: list[Any]) -> None:
    async def play() -> tuple[list[str], list[tuple[str, int, str]]]:
        engine, shipped, second = WholeSecondEngine(), list[str](), START
        after: Cursor | None = None
        for i, step in enumerate([*steps, "round"]):
            if step == "round":
                after = await ship_round(engine, after, shipped)
            else:
                second += step[1]
                engine.write(step[0], second, f"{step[0]} {i}")
        return shipped, engine.lines

    shipped, written = asyncio.run(play())
    assert sorted(shipped) == sorted(m for _, _, m in written)
    for stream in ("stdout", "stderr"):
        assert [m for m in shipped if m.startswith(stream)] == [
            m for s, _, m in written if s == stream]


class Admin:
    """The admin's side of a batch: each line's place (application/runtime_logs.py), then
    the store on an in-memory view (the lines it already holds are not taken again)."""

    def __init__(self) -> None:
        self.store = ViewRuntimeLogStore(MemoryTableView(RUNTIME_LOG_TABLES))

    def take(self, after: Cursor | None, found: list[tuple[Any, Any]]) -> None:
        batch = RuntimeLogBatch(lines=[line for _, line in found], after=mark(after))
        self.store.append("rid", [{"stream": line.stream, "timestamp": line.timestamp,
                                   "message": line.message, "masked": False}
                                  for line in batch.lines], AT, places(batch))

    def taken(self) -> list[str]:
        return [row["message"] for row in self.store.read("rid", 0, 10_000, None)]


AT = datetime(2026, 12, 4, 16, tzinfo=UTC)

# Each step: write a line (stream, seconds after the last), run a shipping round whose batch
# the admin takes, one whose answer is lost (the agent's cursor stays), or restart the agent.
RESENDING_STEPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["stdout", "stderr"]), st.integers(0, 1)),
    st.sampled_from(["round", "lost", "restart"])), max_size=40)


@given(RESENDING_STEPS)
def test_batches_sent_again_and_agent_restarts_store_every_line_once(steps: list[Any]) -> None:
    async def play() -> tuple[list[str], list[tuple[str, int, str]]]:
        engine, admin, second = WholeSecondEngine(), Admin(), START
        after: Cursor | None = None
        for i, step in enumerate([*steps, "round"]):
            if step == "restart":
                after = None  # nothing kept: it ships the container's last lines again
            elif step in ("round", "lost"):
                found = await new_lines(engine, after)
                admin.take(after, found)
                if step == "round":
                    after = advanced(after, found)
            else:
                second += step[1]
                engine.write(step[0], second, f"{step[0]} {i}")
        return admin.taken(), engine.lines

    taken, written = asyncio.run(play())
    for stream in ("stdout", "stderr"):
        assert [m for m in taken if m.startswith(stream)] == [
            m for s, _, m in written if s == stream]


def test_a_restarted_agent_whose_last_lines_begin_within_a_second_reads_that_second_whole(
) -> None:
    """The last FIRST_TAIL lines begin within a second: that second is read from its first
    line (the places of its lines name them), and the admin takes none of them again."""
    async def play() -> list[str]:
        engine, admin = WholeSecondEngine(), Admin()
        for n in range(log_shipping.FIRST_TAIL + 100):
            engine.write("stdout", START, f"line {n}")
        first = await new_lines(engine, None)
        assert first[0][1].message == "line 0"  # not "line 100": the tail began within it
        admin.take(None, first)
        after = advanced(None, first)
        rest = await new_lines(engine, after)
        admin.take(after, rest)
        engine.write("stdout", START, "after the restart")  # the same second again
        again = await new_lines(engine, None)  # the agent restarted: those 500 again
        admin.take(None, again)
        after = advanced(None, again)
        admin.take(after, await new_lines(engine, after))
        return admin.taken()

    assert asyncio.run(play()) == [
        *(f"line {n}" for n in range(log_shipping.FIRST_TAIL + 100)), "after the restart"]
