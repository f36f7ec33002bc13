"""What the agent tells the admin while it starts a deployment (issue 17: phases as they
happen): the image pulled or found, the container started, the health check's probes. Lines go
out in order, one at a time behind each other, and the start's own report (ready or error)
waits for them (`flush`), so the admin records them before the attempt settles.

Bounded per deployment: the first SHOWN_FAILURES failed probes each have a line; later ones
are counted, and said as one line every SUMMARY_EVERY seconds while they go on and once when
the check ends; past MAX_LINES nothing more is sent. Progress is telemetry, not a report: a
line lost (an admin that predates the route answers 404) is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from application.agent_protocol import DeploymentProgress, Phase

log = logging.getLogger(__name__)
SendProgress = Callable[[str, DeploymentProgress], Awaitable[None]]
SHOWN_FAILURES = 3
SUMMARY_EVERY = 30.0
MAX_LINES = 32
FLUSH_WAIT = 2.0  # how long a start's report waits for its progress lines to go out
MESSAGE = 1024  # characters of a line (the protocol's bound)


class ProbeCount:
    """The probes of one start's health check, turned into the few lines worth sending."""

    def __init__(self, now: float) -> None:
        self.probes = self.failures = self.unsaid = 0
        self.began = self.said_at = now
        self.last = ""

    def seen(self, found: str | None, now: float) -> list[str]:
        """The lines to send for this probe's result (None: it passed)."""
        self.probes += 1
        if found is None:
            return [*self._summary(), f"probe {self.probes} passed"
                    f" {now - self.began:.2f}s after the first; healthy"]
        self.failures += 1
        self.last = found
        if self.failures <= SHOWN_FAILURES:
            self.said_at = now
            return [f"probe {self.probes} failed: {found}"]
        self.unsaid += 1
        if now - self.said_at >= SUMMARY_EVERY:
            self.said_at = now
            return self._summary()
        return []

    def ended(self) -> list[str]:
        """The lines still owed once the check ends without passing."""
        return self._summary()

    def _summary(self) -> list[str]:
        if not self.unsaid:
            return []
        said, self.unsaid = self.unsaid, 0
        return [f"{said} more probe(s) failed, {self.failures} in all; last: {self.last}"]


class StartProgress:
    """One start's progress lines, sent in order through `send` (None: nothing is sent)."""

    def __init__(self, request_id: str, send: SendProgress | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.request_id, self.send, self.clock = request_id, send, clock
        self.lines = 0
        self.probes = ProbeCount(clock())
        self._last: asyncio.Future[None] | None = None

    def note(self, phase: Phase, message: str) -> None:
        if self.send is None or self.lines >= MAX_LINES:
            return
        self.lines += 1
        body = DeploymentProgress(phase=phase, message=message[:MESSAGE])
        self._last = asyncio.ensure_future(self._after(self._last, body))

    def probe_started(self) -> None:
        """The check begins: probes are timed from here."""
        self.probes = ProbeCount(self.clock())

    def probe(self, found: str | None) -> None:
        for line in self.probes.seen(found, self.clock()):
            self.note("health", line)

    def check_ended(self) -> None:
        for line in self.probes.ended():
            self.note("health", line)

    async def flush(self) -> None:
        """Waits (FLUSH_WAIT at most) until every line noted so far has gone out."""
        if self._last is not None:
            await asyncio.wait({self._last}, timeout=FLUSH_WAIT)

    async def _after(self, before: asyncio.Future[None] | None,
                     body: DeploymentProgress) -> None:
        if before is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(before)
        assert self.send is not None
        try:
            await self.send(self.request_id, body)
        except Exception as exc:  # noqa: BLE001 - telemetry: never break the start over it
            log.debug("progress of %s not delivered: %r", self.request_id, exc)
