"""Ships what running deployment containers write to the admin as it comes (a resource's
runtime logs), bounded: every SHIP_EVERY seconds, for each running container, the stdout and
stderr lines its engine holds after the last line shipped (the last FIRST_TAIL lines the first
time), oldest first, at most MAX_LOG_BATCH lines a round (the rest go next round), each cut to
MAX_LOG_LINE characters.

Lines are found by the engine's own timestamps (timestamps=true; `since` in whole seconds,
then the lines before the last shipped one dropped here, and of the lines stamped as it, as
many as were shipped: podman 4 stamps whole seconds, so a line written later in the same second
carries the same stamp, and dropping every line "at or before" lost it): nothing is kept on
disk, so an agent that restarts ships at most the last FIRST_TAIL lines again. A batch the
admin does not take (unreachable, or its answer lost) is fetched again next round from the same
cursor; each batch says where it starts (RuntimeLogMark), so the admin takes the lines it took
already once, across agent restarts too. One the admin refuses (404: no longer this node's) is
forgotten.

An admin of the release before RuntimeLogMark refuses a batch that says where it starts (422:
its bodies take no field they do not know), and there are such admins while a fleet's admins
are upgraded one by one. A batch refused with 422 is sent once more without its mark, as
before it; taken so, it shows the admin does not take marks (the two differed in nothing
else), and batches go without one for MARKS_REFUSED_FOR seconds. Without a mark the lines of
the last second of a batch sent again may be stored twice; none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import msgspec

from application.agent_protocol import (
    MAX_LOG_BATCH,
    MAX_LOG_LINE,
    RuntimeLogBatch,
    RuntimeLogLine,
    RuntimeLogMark,
)
from entrypoints.agent.api import AdminError, Unreachable
from entrypoints.agent.containers import ENGINE_GLITCHES
from entrypoints.agent.session import Link

log = logging.getLogger(__name__)
SHIP_EVERY = 2.0
FIRST_TAIL = 500
# How long batches go without their mark once the admin refused one: an upgrade of the
# admins takes minutes; then marks are tried again (one batch sent twice if still refused).
MARKS_REFUSED_FOR = 300.0
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ?")
# A line's stamp to the microsecond, as the admin keeps it (engines that stamp to the
# nanosecond: lines apart by less than a microsecond share it, here and there alike).
Key = datetime
# Where the next round starts: the last key shipped, and how many lines of each stream stamped
# with it were shipped.
Cursor = tuple[Key, dict[str, int]]


def parse_line(raw: str, stream: Literal["stdout", "stderr"]
               ) -> tuple[Key, RuntimeLogLine] | None:
    """One `<RFC 3339 nano> <message>` line of the engine; None if it carries no stamp."""
    found = STAMP.match(raw)
    if found is None:
        return None
    zone = "+00:00" if found[3] == "Z" else found[3]
    at = datetime.fromisoformat(found[1] + zone).astimezone(UTC)
    stamp = at.replace(microsecond=int((found[2] or "0").ljust(9, "0")) // 1000)
    message = raw[found.end():].rstrip("\r\n")[:MAX_LOG_LINE]
    return stamp, RuntimeLogLine(stream=stream, timestamp=stamp, message=message)


async def stream_lines(container: Any, stream: Literal["stdout", "stderr"],
                       **params: Any) -> list[tuple[Key, RuntimeLogLine]]:
    found = []
    for raw in await container.log(timestamps=True, stdout=stream == "stdout",
                                   stderr=stream == "stderr", **params):
        for piece in raw.splitlines():
            parsed = parse_line(piece, stream)
            if parsed is not None:
                found.append(parsed)
    return found


async def new_lines(container: Any, after: Cursor | None) -> list[tuple[Key, RuntimeLogLine]]:
    """Both streams' lines not shipped yet (all of the last FIRST_TAIL when None), in order.

    Each stamp's lines of a stream are there from its first one, so that their places among
    the lines stamped so name them (RuntimeLogMark): the last FIRST_TAIL lines can begin
    within a second, and then that second is read whole."""
    found: list[tuple[Key, RuntimeLogLine]] = []
    for stream in ("stdout", "stderr"):
        if after is None:
            lines = await stream_lines(container, stream, tail=FIRST_TAIL)
            if len(lines) >= FIRST_TAIL:
                lines = await stream_lines(container, stream, since=int(lines[0][0].timestamp()))
            found += lines
            continue
        at_last = 0  # lines of this stream stamped as the last shipped one, seen so far
        for key, line in await stream_lines(container, stream, since=int(after[0].timestamp())):
            if key <= after[0]:
                if key < after[0]:
                    continue
                at_last += 1
                if at_last <= after[1].get(stream, 0):
                    continue
            found.append((key, line))
    found.sort(key=lambda item: item[0])  # stable: a stream's lines keep their order
    return found[:MAX_LOG_BATCH]


def mark(after: Cursor | None) -> RuntimeLogMark:
    """Where a batch new_lines found from `after` starts, for the admin."""
    if after is None:
        return RuntimeLogMark()
    return RuntimeLogMark(timestamp=after[0], stdout=after[1].get("stdout", 0),
                          stderr=after[1].get("stderr", 0))


def advanced(after: Cursor | None, shipped: list[tuple[Key, RuntimeLogLine]]) -> Cursor | None:
    """The cursor once `shipped` (what new_lines found from `after`) went out."""
    if not shipped:
        return after
    last = shipped[-1][0]
    counts = dict(after[1]) if after is not None and after[0] == last else {}
    for key, line in shipped:
        if key == last:
            counts[line.stream] = counts.get(line.stream, 0) + 1
    return last, counts


class Containers(Protocol):
    """What the shipper reads of the agent's containers (containers.py ContainerRunner)."""

    def running(self) -> list[str]: ...

    def held(self) -> list[str]: ...

    def container(self, request_id: str) -> Any | None: ...


class LogShipper:
    def __init__(self, runner: Containers, link: Link, every: float = SHIP_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner, self.link, self.every, self.clock = runner, link, every, clock
        self._after: dict[str, Cursor | None] = {}
        self._marks_refused_until: float | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.round()

    async def round(self) -> None:
        """Ships each running container's new lines."""
        running = self.runner.running()
        for request_id in list(self._after):
            if request_id not in self.runner.held():
                del self._after[request_id]  # ended and removed
        for request_id in running:
            await self._ship(request_id)

    async def _ship(self, request_id: str) -> None:
        container = self.runner.container(request_id)
        if container is None:
            return
        after = self._after.get(request_id)
        try:
            found = await new_lines(container, after)
        except ENGINE_GLITCHES as exc:  # it ended meanwhile
            log.debug("no runtime logs for %s: %r", request_id, exc)
            return
        if not found:
            self._after.setdefault(request_id, None)
            return
        try:
            await self._send(request_id, RuntimeLogBatch(lines=[line for _, line in found],
                                                         after=mark(after)))
        except Unreachable:
            return  # fetched again next round
        except AdminError as exc:
            log.debug("runtime logs of %s refused: %s", request_id, exc)
        self._after[request_id] = advanced(after, found)

    async def _send(self, request_id: str, batch: RuntimeLogBatch) -> None:
        """Sends `batch`: without its mark to an admin that refused one lately, and once more
        without it when the admin refuses it (raising as report_on does)."""
        refused_until = self._marks_refused_until
        if refused_until is not None and self.clock() < refused_until:
            batch = msgspec.structs.replace(batch, after=None)
        session = await self.link.session()
        try:
            await self.link.api.report_on(session.api_token, request_id, batch)
        except AdminError as exc:
            # Any 422, not only one naming `after`: how an admin of another release words it
            # is its own. Sent without the mark, at worst the lines of the last second of a
            # batch sent again are stored twice; skipped, every line of it is lost.
            if exc.status != 422 or batch.after is None:
                raise
            await self.link.api.report_on(session.api_token, request_id,
                                          msgspec.structs.replace(batch, after=None))
            log.warning("the admin refuses runtime-log batches that say where they start (%s;"
                        " an admin of an earlier release?): they go without it for %gs",
                        exc, MARKS_REFUSED_FOR)
            self._marks_refused_until = self.clock() + MARKS_REFUSED_FOR
