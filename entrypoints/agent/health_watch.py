"""The agent keeps checking a health-checked deployment once it is ready, at its policy's
interval, and tells the admin what it finds (issue 17: a resource's cached health and its
history). To keep the volume bounded it sends only a change of state and, while nothing
changes, a heartbeat every HEALTH_HEARTBEAT_SECONDS (or one interval, when longer); and one
observation when the container ends. It also answers the admin's live probes, each with one
probe made there and then.

Unhealthy, as during the start, is `retries` failed probes in a row; one passing probe is
healthy again. The agent does not act on an unhealthy running container (no restart): it
reports it, and the operator decides (redeploy, roll back).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiodocker
import msgspec

from application.agent_protocol import (
    HEALTH_HEARTBEAT_SECONDS,
    DeploymentReport,
    HealthCheck,
    HealthObservation,
    HealthProbe,
)
from entrypoints.agent.container_health import labelled_spec, probe, published_address
from entrypoints.agent.containers import ContainerRunner

log = logging.getLogger(__name__)
SendHealth = Callable[[str, HealthObservation], Awaitable[None]]
ANSWERED = 256  # probe ids remembered, so a probe handed out twice is answered once
ANSWERED_STATUS = re.compile(r" answered ([0-9]{3}) ")
State = Literal["healthy", "unhealthy"]


class Tracker:
    """A watched deployment's health state: what each probe's outcome means to send."""

    def __init__(self, retries: int, heartbeat: float, now: float) -> None:
        self.retries, self.heartbeat = retries, heartbeat
        self.state: State = "healthy"  # it has just passed its check: it was reported ready
        self.failures = 0
        self.sent_at = now

    def observe(self, passed: bool, now: float) -> Literal["change", "heartbeat"] | None:
        new: State
        if passed:
            self.failures, new = 0, "healthy"
        else:
            self.failures += 1
            new = "unhealthy" if self.failures >= self.retries else self.state
        if new != self.state:
            self.state, self.sent_at = new, now
            return "change"
        if now - self.sent_at >= self.heartbeat:
            self.sent_at = now
            return "heartbeat"
        return None


class HealthWatch:
    """Watches the ready, health-checked deployments of one agent run."""

    def __init__(self, runner: ContainerRunner, send: SendHealth,
                 heartbeat: float = HEALTH_HEARTBEAT_SECONDS) -> None:
        self.runner, self.send, self.heartbeat = runner, send, heartbeat
        self._watching: dict[str, asyncio.Task[None]] = {}
        self._answered: deque[Any] = deque(maxlen=ANSWERED)
        self._tasks: set[asyncio.Task[None]] = set()

    def reported(self, request_id: str, report: DeploymentReport) -> None:
        """Every report the runner sends passes here: ready starts a watch, an end stops it."""
        if report.state == "ready":
            if request_id not in self._watching:
                self._watching[request_id] = self._spawn(self._watch(request_id))
            return
        watch = self._watching.pop(request_id, None)
        if watch is None:
            return
        watch.cancel()
        stopped = report.state == "terminated"
        self._spawn(self.send(request_id, HealthObservation(
            kind="exit", lifecycle="stopped" if stopped else "exited",
            health="unknown" if stopped else "unhealthy", exit_code=report.exit_code,
            message=report.detail or ("the container was stopped" if stopped else
                                      f"the container exited with code {report.exit_code}"))))

    def probe(self, asked: HealthProbe) -> None:
        if asked.probe_id in self._answered:
            return
        self._answered.append(asked.probe_id)
        self._spawn(self._answer(asked))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _watch(self, request_id: str) -> None:
        try:
            found = await self._checked(request_id)
        except _NotRunning:
            return  # it ended at once: its end's report says how
        if found is None:
            return  # no check (or no longer there): nothing to watch
        check, address = found
        loop = asyncio.get_running_loop()
        tracker = Tracker(check.retries, max(self.heartbeat, check.interval_seconds),
                          loop.time())
        await self.send(request_id, HealthObservation(
            kind="change", lifecycle="running", health="healthy",
            message="its health check passes"))
        while True:
            await asyncio.sleep(check.interval_seconds)
            observation = await _probe_once(check, address)
            kind = tracker.observe(observation.health == "healthy", loop.time())
            if kind is not None:
                await self.send(request_id, HealthObservation(
                    kind=kind, lifecycle="running", health=tracker.state,
                    message=observation.message, duration_ms=observation.duration_ms,
                    status_code=observation.status_code))

    async def _answer(self, asked: HealthProbe) -> None:
        try:
            found = await self._checked(asked.request_id)
        except _NotRunning as gone:
            observation = HealthObservation(kind="probe", lifecycle=gone.lifecycle,
                                            health="unknown", message=gone.message)
        else:
            if found is None:
                observation = HealthObservation(
                    kind="probe", lifecycle="running", health="unknown",
                    message="it runs; it has no health check to probe")
            else:
                observation = await _probe_once(*found)
        await self.send(asked.request_id,
                        msgspec.structs.replace(observation, probe_id=asked.probe_id))

    async def _checked(self, request_id: str) -> tuple[HealthCheck, tuple[str, int]] | None:
        """The deployment's check and where to reach it; None without a check. Raises
        _NotRunning when its container is not running here."""
        container = self.runner.container(request_id)
        if container is None:
            raise _NotRunning("missing", "this node runs no container of it")
        try:
            info = await container.show()
        except aiodocker.DockerError as exc:
            raise _NotRunning("missing", f"its container is gone: {exc.message}") from None
        state = info.get("State") or {}
        if not state.get("Running"):
            raise _NotRunning("exited", f"its container is {state.get('Status', 'not running')}")
        spec = labelled_spec(request_id, (info.get("Config") or {}).get("Labels") or {})
        if spec is None or spec.health is None:
            return None
        address = published_address(spec.health, (info.get("NetworkSettings") or {})
                                    .get("Ports") or {})
        if address is None:
            return None
        return spec.health, address

    def _spawn(self, job: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        for request_id, watch in list(self._watching.items()):
            if watch is task:
                del self._watching[request_id]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("health watch failed: %r", error)


class _NotRunning(Exception):
    def __init__(self, lifecycle: Literal["exited", "missing"], message: str) -> None:
        super().__init__(message)
        self.lifecycle, self.message = lifecycle, message


async def _probe_once(check: HealthCheck, address: tuple[str, int]) -> HealthObservation:
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await probe(check, *address)
    took = min(int((loop.time() - started) * 1000), 3_600_000)
    status = None
    if found is None and check.type == "http":
        status = check.expected_status
    elif found is not None and (answered := ANSWERED_STATUS.search(found)):
        status = int(answered.group(1))
    return HealthObservation(
        kind="probe", lifecycle="running", health="healthy" if found is None else "unhealthy",
        message=(found or "its health check passes")[:4096], duration_ms=took,
        status_code=status)

