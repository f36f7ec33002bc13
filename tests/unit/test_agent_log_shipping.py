"""The runtime log shipper's rounds against an engine that stamps whole seconds (podman 4):
every line reaches the admin once, in order, however the rounds fall within a second."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.agent.log_shipping import Cursor, advanced, new_lines

START = int(datetime(2026, 12, 4, 15, 31, 14, tzinfo=UTC).timestamp())


class WholeSecondEngine:
    """What aiodocker's container.log answers from podman 4.3: `<stamp> <message>` lines,
    stamped to the whole second, from `since` (seconds, inclusive) or the last `tail`."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, int, str]] = []  # stream, second, message

    def write(self, stream: str, second: int, message: str) -> None:
        self.lines.append((stream, second, message))

    async def log(self, *, timestamps: bool, stdout: bool, stderr: bool,
                  since: int | None = None, tail: int | None = None) -> list[str]:
        assert timestamps
        wanted = {"stdout"} if stdout else set()
        wanted |= {"stderr"} if stderr else set()
        picked = [(s, sec, m) for s, sec, m in self.lines
                  if s in wanted and (since is None or sec >= since)]
        if tail is not None:
            picked = picked[-tail:]
        return [f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%SZ} {m}\n"
                for _, sec, m in picked]


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
