"""Runtime control of a running deployment's container (Appaloft's runtime stop / start /
restart): the admin asks the agent to pause a ready container (stop it and keep it) or to resume
a paused one (start the same container again, health-checked as when it was deployed).

A paused container is still held (the admin must not think it lost) and listed as stopped in
every work poll: the admin compares what it wants with what the agent says, and records a phase
done when they agree. While a pause or resume is under way, and once right after, the agent
polls briefly so the admin hears of the change within a second rather than a long poll later.
A resumed container that fails its check, or cannot start, ends as a crashed one does (an
error report): the admin fails the control and the deployment with it.

The pause is kept on the node itself: a paused container is renamed `edge-<request_id>-paused`
(labels cannot change), so an agent that restarts finds it stopped and keeps it so instead of
reporting an exited container as a crash; a resume renames it back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiodocker

from application.agent_protocol import DeploymentReport
from entrypoints.agent.container_health import labelled_spec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from application.agent_protocol import HealthCheck, Phase

log = logging.getLogger(__name__)
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL, as `docker stop` does
PAUSED = "-paused"


def paused_name(container: Any) -> bool:
    """Whether a listed container carries the pause marker in its name."""
    names = container._container.get("Names") or []
    return any(str(n).lstrip("/").endswith(PAUSED) for n in names)


class RuntimeControl:
    """Mixed into ContainerRunner (entrypoints/agent/containers.py)."""

    if TYPE_CHECKING:  # provided by ContainerRunner; declared for the type checker only
        send: Callable[[str, DeploymentReport], Awaitable[None]]
        _held: set[str]
        _stopping: set[str]
        _containers: dict[str, Any]

        def _spawn(self, job: Awaitable[None]) -> None: ...

        async def _watch(self, request_id: str, container: Any,
                         phase: Phase | None = None) -> None: ...

        async def _check(self, check: HealthCheck, container: Any, published: dict[str, Any]
                         ) -> Any: ...  # containers.py: str | Ended | None

        async def _unhealthy(self, request_id: str, container: Any, found: str) -> None: ...

    def _init_runtime(self) -> None:
        self._paused: set[str] = set()  # asked to stay stopped (the stop may be under way)
        self._stopped: set[str] = set()  # stopped and kept, as asked
        self._moving: set[str] = set()  # a pause or resume under way
        self._changed = False  # a pause or resume ended since the last poll

    def adopt_paused(self, request_id: str) -> None:
        """A paused container found at start: held, stopped, not watched."""
        self._paused.add(request_id)
        self._stopped.add(request_id)
        log.info("found deployment %s stopped by a runtime control; keeping it so", request_id)

    def stopped(self) -> list[str]:
        return sorted(self._stopped)

    def transitioning(self) -> bool:
        """True while the admin should hear from this agent soon (then cleared)."""
        changed, self._changed = self._changed, False
        return changed or bool(self._moving)

    def pause(self, request_id: str) -> bool:
        container = self._containers.get(request_id)
        if container is None or request_id in self._stopping or request_id in self._paused:
            return False
        self._paused.add(request_id)
        self._moving.add(request_id)
        self._spawn(self._pause(request_id, container))
        return True

    def resume(self, request_id: str) -> bool:
        if (request_id not in self._stopped or request_id in self._moving
                or request_id in self._stopping):
            return False
        self._moving.add(request_id)
        self._spawn(self._resume_stopped(request_id, self._containers[request_id]))
        return True

    def stop_paused(self, request_id: str) -> bool:
        """A real stop of a stopped container: nothing watches it any more, so watch its end
        (at once: it is not running) to report it terminated and remove it."""
        if request_id not in self._stopped or request_id in self._moving:
            return False
        self._paused.discard(request_id)
        self._stopped.discard(request_id)
        self._stopping.add(request_id)
        self._spawn(self._watch(request_id, self._containers[request_id]))
        return True

    def kept_paused(self, request_id: str) -> bool:
        """Called by _watch when the container exited: True when it was paused (kept, not
        reported), False when its end is to be reported as usual."""
        if request_id not in self._paused or request_id in self._stopping:
            return False
        self._stopped.add(request_id)
        self._moving.discard(request_id)
        self._changed = True
        log.info("deployment %s stopped (runtime control); kept", request_id)
        return True

    async def _pause(self, request_id: str, container: Any) -> None:
        await _rename(container, f"edge-{request_id}{PAUSED}")
        if not await stop_container(container, request_id):
            self._paused.discard(request_id)
            self._moving.discard(request_id)

    async def _resume_stopped(self, request_id: str, container: Any) -> None:
        await _rename(container, f"edge-{request_id}")
        try:
            await container.start()
            info = await container.show()
        except aiodocker.DockerError as exc:
            log.warning("deployment %s could not start again: %s", request_id, exc.message)
            self._resumed(request_id)
            await self.send(request_id, DeploymentReport(
                state="error", phase="start", detail=f"runtime start failed: {exc.message}"))
            self._stopping.add(request_id)
            self._spawn(self._watch(request_id, container))
            return
        labels = (info.get("Config") or {}).get("Labels") or {}
        spec = labelled_spec(request_id, labels)
        if spec is not None and spec.health is not None:
            published = (info.get("NetworkSettings") or {}).get("Ports") or {}
            unhealthy = await self._check(spec.health, container, published)
            if unhealthy is not None:
                self._resumed(request_id)
                if isinstance(unhealthy, str):
                    await self._unhealthy(request_id, container, unhealthy)
                else:
                    await self._watch(request_id, container, "health")
                return
        log.info("deployment %s started again (runtime control)", request_id)
        self._resumed(request_id)
        await self._watch(request_id, container)

    def _resumed(self, request_id: str) -> None:
        self._paused.discard(request_id)
        self._stopped.discard(request_id)
        self._moving.discard(request_id)
        self._changed = True


async def stop_container(container: Any, request_id: str) -> bool:
    """SIGTERM, then SIGKILL after STOP_GRACE. An engine that refuses is logged, not raised:
    whoever watches the container learns how it ended (False: it may still run)."""
    try:
        await container.stop(t=STOP_GRACE)
    except aiodocker.DockerError as exc:
        log.warning("could not stop %s: %s", request_id, exc.message)
        return False
    return True


async def _rename(container: Any, name: str) -> None:
    """Best effort: without the marker, an agent restart reports the paused one as exited."""
    try:
        await container.rename(name)
    except aiodocker.DockerError as exc:
        log.warning("could not rename container %s to %s: %s", container.id, name, exc.message)
