"""Deployments as containers on this node's Docker-API engine (Docker, or podman's compatible
service), driven with aiodocker.

Each container carries the labels `edge.request_id` and `edge.node_id`, so an agent that
restarts finds its containers again, keeps watching them (containers outlive the agent) and
reports the running ones ready again (their ports are kept in labels:
entrypoints/agent/container_health.py). Every port is published on a host port the engine picks
(a TCP/UDP one on a port the agent picks for both protocols:
entrypoints/agent/container_ports.py); the reported link is `<public ip>:<port>` (with a scheme
for HTTP-like protocols). A container that exits unasked is reported as an error with its exit
code; one that exits after a stop, as terminated. A deployment with a health policy is reported
ready only once its check passes (entrypoints/agent/container_health.py); one whose check fails
is reported as an error with the last probe's result, its log tail goes out as crash logs, and
the agent stops and removes it as it does a crashed one. A start that fails in any way (the
engine refuses it, a command with unbalanced quotes, a bug) is reported as an error with the
reason, and its container, if the engine made one, is removed.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import shlex
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import aiodocker
import aiohttp

from application.agent_protocol import (
    ContainerSpec,
    DeploymentReport,
    DeploymentTelemetry,
    HealthCheck,
    Phase,
)
from entrypoints.agent.container_health import (
    labelled_spec,
    published_address,
    spec_labels,
    wait_healthy,
)
from entrypoints.agent.container_ports import (
    BOTH,
    CLASH,
    port_bindings,
    reported_ports,
    shared_host_ports,
)
from entrypoints.agent.container_runtime import (
    STOP_GRACE,
    RuntimeControl,
    paused_name,
    stop_container,
)
from entrypoints.agent.start_progress import SendProgress, StartProgress

log = logging.getLogger(__name__)
LABEL = "edge.request_id"
# The node whose agent made the container: agents sharing one engine adopt only their own.
NODE_LABEL = "edge.node_id"
Send = Callable[[str, DeploymentReport], Awaitable[None]]
SendTelemetry = Callable[[str, DeploymentTelemetry], Awaitable[None]]


# What a call to the engine raises besides its own errors when a container goes away under it:
# podman answers a stats request for a container being removed with an empty body, which
# aiodocker fails to decode (ValueError), and the socket can drop mid-answer.
PORT_TRIES = 5  # starts of a deployment whose picked host port was taken meanwhile
ENGINE_GLITCHES = (aiodocker.DockerError, ValueError, aiohttp.ClientError, asyncio.TimeoutError)
LOG_TAIL = 65_536  # characters of logs sent (the admin keeps no more)


class Ended(enum.Enum):
    ENDED = "the container exited while its health was being checked"


ENDED = Ended.ENDED


def stats_sample(stats: dict[str, Any]) -> dict[str, Any]:
    """Docker's stats document -> the admin's sample (totals since the container started)."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - (
        (pre.get("cpu_usage") or {}).get("total_usage") or 0)
    system = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or 1
    networks = (stats.get("networks") or {}).values()
    blkio = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return {
        "cpu_percent": round(used / system * online * 100, 2) if used > 0 and system > 0 else 0,
        "memory_bytes": int((stats.get("memory_stats") or {}).get("usage") or 0),
        "receive_total": sum(int(n.get("rx_bytes") or 0) for n in networks),
        "transmit_total": sum(int(n.get("tx_bytes") or 0) for n in networks),
        "disk_read_total": sum(int(b.get("value") or 0) for b in blkio
                               if str(b.get("op", "")).lower() == "read"),
        "disk_write_total": sum(int(b.get("value") or 0) for b in blkio
                                if str(b.get("op", "")).lower() == "write"),
    }


class SpecError(ValueError):
    """A spec this agent cannot turn into a container (the admin should have refused it)."""


def split_words(field: str, text: str) -> list[str]:
    """A version's command or arguments as the shell would split them; unbalanced quotes are
    a SpecError naming the field, not a crash of the start."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise SpecError(f"cannot split the {field} {text!r}: {exc}") from None


# The least CPU an engine grants: a CFS quota of 1 ms in its 100 ms period. Below it (10 units or
# fewer) every start failed ("CPU cfs quota cannot be less than 1ms").
MIN_NANO_CPUS = 10_000_000


def nano_cpus(cpu_units: int) -> int:
    """The engine's NanoCpus for Edgegap's units (1024 a vCPU), at least what it grants."""
    return max(MIN_NANO_CPUS, cpu_units * 1_000_000_000 // 1024)


def container_config(spec: ContainerSpec, node_id: UUID | None = None,
                     host_ports: dict[int, int] | None = None) -> dict[str, Any]:
    """host_ports: the host port of some container ports (container_ports.py), else the
    engine picks."""
    exposed, bindings = port_bindings(spec, host_ports or {})
    config: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Labels": {LABEL: spec.request_id, **spec_labels(spec),
                   **({NODE_LABEL: str(node_id)} if node_id is not None else {})},
        "ExposedPorts": exposed,
        "HostConfig": {"PortBindings": bindings, "NanoCpus": nano_cpus(spec.cpu_units),
                       "Memory": spec.memory_mb * 1024 * 1024},
    }
    if spec.command:
        config["Entrypoint"] = split_words("command", spec.command)
    if spec.arguments:
        config["Cmd"] = split_words("arguments", spec.arguments)
    return config


def owned(labels: dict[str, str], node: UUID | None) -> bool:
    """Whether a container found on the engine is this node's to adopt. Another node's is left
    alone: agents sharing one engine would otherwise adopt each other's containers and then be
    told to stop them. An agent that does not know its node yet is a new node (a random
    identity that has not enrolled): nothing there is its own. A container made before
    containers were labelled with their node is adopted by any agent that knows its node, as
    it was then: after an upgrade, the node that made it is the one restarting."""
    if node is None:
        return False
    made_by = labels.get(NODE_LABEL)
    return made_by is None or made_by == str(node)


class ContainerRunner(RuntimeControl):
    """Starts, watches and stops this node's deployment containers (and pauses and resumes
    them: entrypoints/agent/container_runtime.py)."""

    def __init__(self, url: str, public_ip: str, send: Send,  # noqa: PLR0913
                 telemetry: SendTelemetry | None = None,
                 progress: SendProgress | None = None, *,
                 node: Callable[[], UUID | None]) -> None:
        self.url, self.public_ip, self.send, self.telemetry = url, public_ip, send, telemetry
        self.node = node  # this agent's node id; None until a new node has enrolled
        self.progress = progress  # lines while a start is under way (start_progress.py)
        self.docker: aiodocker.Docker | None = None
        self._held: set[str] = set()
        self._stopping: set[str] = set()
        self._reported: set[str] = set()  # ended as reported already (failed health checks)
        self._containers: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._init_runtime()

    async def open(self) -> None:
        self.docker = aiodocker.Docker(url=self.url)
        node = self.node()
        for container in await self.docker.containers.list(all=True,
                                                           filters={"label": [LABEL]}):
            labels = container._container.get("Labels") or {}
            request_id = labels.get(LABEL)
            if request_id and owned(labels, node):
                log.info("found deployment %s from an earlier run; watching it", request_id)
                self._held.add(request_id)
                self._containers[request_id] = container
                running = container._container.get("State") == "running"
                if not running and paused_name(container):
                    self.adopt_paused(request_id)
                    continue
                self._spawn(self._resume(request_id, container, labels) if running
                            else self._watch(request_id, container))

    def held(self) -> list[str]:
        return sorted(self._held)

    def start(self, spec: ContainerSpec) -> bool:
        if spec.request_id in self._held:
            return False
        self._held.add(spec.request_id)
        self._spawn(self._run(spec))
        return True

    def stop(self, request_id: str) -> bool:
        if self.stop_paused(request_id):
            return True
        if request_id not in self._held or request_id in self._stopping:
            return False
        self._stopping.add(request_id)
        self._spawn(self._stop(request_id))
        return True

    def running(self) -> list[str]:
        return sorted(r for r in self._containers
                      if r not in self._stopping and r not in self._stopped)

    def container(self, request_id: str) -> Any | None:
        """The deployment's container while this runner holds it (entrypoints/agent/
        health_watch.py inspects and probes it)."""
        return self._containers.get(request_id)

    async def logs(self, request_id: str) -> str:
        container = self._containers.get(request_id)
        if container is None:
            return ""
        lines = await container.log(stdout=True, stderr=True, tail=500)
        return "".join(lines)[-LOG_TAIL:]

    async def sample(self, request_id: str) -> dict[str, Any] | None:
        container = self._containers.get(request_id)
        if container is None:
            return None
        found = await container.stats(stream=False)
        stats = found[0] if isinstance(found, list) and found else found
        return stats_sample(stats) if isinstance(stats, dict) else None

    async def images(self) -> list[str]:
        assert self.docker is not None
        found = await self.docker.images.list()
        return sorted({tag for image in found for tag in image.get("RepoTags") or []})

    async def close(self) -> None:
        """Stops watching; the containers keep running for the next agent run."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.docker is not None:
            await self.docker.close()

    async def _run(self, spec: ContainerSpec) -> None:
        assert self.docker is not None
        name = f"edge-{spec.request_id}"
        phase: list[Phase] = ["start"]  # _create moves it to "pull" while it pulls
        progress = StartProgress(spec.request_id, self.progress)
        try:
            container = await self._started(name, spec, phase, progress)
            progress.note("start", f"container {name} started")
            info = await container.show()
            published = info["NetworkSettings"]["Ports"] or {}
            ports = reported_ports(spec, published, self.public_ip)
        except Exception as exc:  # noqa: BLE001 - every failed start ends in a report
            await self._failed_start(spec.request_id, phase[0], exc, progress)
            return
        if spec.health is not None and spec.request_id not in self._stopping:
            log.info("deployment %s started; checking its health", spec.request_id)
            unhealthy = await self._check(spec.health, container, published, progress)
            await progress.flush()
            if unhealthy is ENDED:  # it exited while checked: _watch reports how
                await self._watch(spec.request_id, container, "health")
                return
            if unhealthy is not None:
                await self._unhealthy(spec.request_id, container, unhealthy)
                return
        await progress.flush()  # its lines before its report, checked or not
        log.info("deployment %s ready: %s", spec.request_id,
                 ", ".join(p.link or "" for p in ports.values()) or "no ports")
        await self.send(spec.request_id, DeploymentReport(
            state="ready", phase="start" if spec.health is None else "health", ports=ports,
            public_ip=self.public_ip))
        if spec.request_id in self._stopping:  # asked to stop while starting
            await container.stop(t=STOP_GRACE)
        await self._watch(spec.request_id, container)

    async def _failed_start(self, request_id: str, phase: Phase, exc: Exception,
                            progress: StartProgress) -> None:
        """Reported as an error at once with the reason: left unreported, the deployment
        would wait in DEPLOYING for the admin's start deadline."""
        if isinstance(exc, aiodocker.DockerError):
            detail = exc.message
        elif isinstance(exc, SpecError):
            detail = str(exc)
        else:  # a bug, or an engine answer nobody foresaw
            log.error("deployment %s: the start broke", request_id, exc_info=exc)
            detail = f"the agent could not start it: {exc!r}"
        log.warning("deployment %s could not %s: %s", request_id, phase, detail)
        await progress.flush()
        container = self._containers.get(request_id)
        if container is not None:  # created, then failed: what it wrote may say why
            await self._send_crash_logs(request_id, None, only_some=True)
        await self.send(request_id, DeploymentReport(state="error", phase=phase,
                                                     detail=detail[:4000]))
        # Left "Created", it would stay on the node until the next agent start. Held until
        # removed: a poll meanwhile must not see the start as not begun.
        if container is not None:
            await self._remove(request_id, container)
        self._held.discard(request_id)
        self._stopping.discard(request_id)
        self._containers.pop(request_id, None)

    async def _resume(self, request_id: str, container: Any, labels: dict[str, str]) -> None:
        """A container found running: the earlier run may have stopped before reporting it
        ready (a self-update, a crash between its start and its report), so it is reported
        ready again, once its check passes if it has one; the admin ignores a second ready,
        and until the first it holds back a stop asked meanwhile. One that fails its check is
        left running: the admin stops it if its start deadline passes, and one long ready is
        not ended by an agent restart. One made by an agent that labelled no ports is only
        watched (its ports' names are not known here)."""
        spec = labelled_spec(request_id, labels)
        if spec is None:
            log.info("deployment %s: its container carries no ports label; not reported"
                     " ready again", request_id)
            await self._watch(request_id, container)
            return
        try:
            info = await container.show()
        except aiodocker.DockerError as exc:  # gone meanwhile: _watch says how it ended
            log.warning("cannot inspect %s: %s", request_id, exc.message)
            await self._watch(request_id, container)
            return
        published = info["NetworkSettings"]["Ports"] or {}
        if spec.health is not None:
            unhealthy = await self._check(spec.health, container, published)
            if unhealthy is not None:
                if unhealthy is not ENDED:
                    log.warning("deployment %s fails its health check (%s); not reported"
                                " ready", request_id, unhealthy)
                await self._watch(request_id, container)
                return
        await self.send(request_id, DeploymentReport(
            state="ready", phase="start" if spec.health is None else "health",
            public_ip=self.public_ip, ports=reported_ports(spec, published, self.public_ip)))
        await self._watch(request_id, container)

    async def _started(self, name: str, spec: ContainerSpec, phase: list[Phase],
                       progress: StartProgress) -> Any:
        """The container, created and started. One whose picked host port was taken before
        it started (container_ports.py) is created again on another."""
        picked = any(p.protocol == BOTH for p in spec.ports)
        for attempt in range(1, PORT_TRIES + 1):
            container = await self._create(name, spec, phase, progress)
            self._containers[spec.request_id] = container
            phase[0] = "start"
            try:
                await container.start()
            except aiodocker.DockerError as exc:
                if not picked or CLASH not in exc.message or attempt == PORT_TRIES:
                    raise
                log.info("deployment %s: its picked host port was taken (%s); picking"
                         " again", spec.request_id, exc.message)
                continue
            return container
        raise AssertionError("the last attempt returns or raises")

    async def _create(self, name: str, spec: ContainerSpec, phase: list[Phase],
                      progress: StartProgress) -> Any:
        assert self.docker is not None
        config = container_config(spec, self.node(), shared_host_ports(spec))
        try:
            created = await self.docker.containers.create_or_replace(name=name, config=config)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
        else:
            progress.note("pull", f"image {spec.image} is on this node already")
            return created
        phase[0] = "pull"
        log.info("deployment %s: pulling %s", spec.request_id, spec.image)
        progress.note("pull", f"pulling {spec.image}")
        began = asyncio.get_running_loop().time()
        await self.docker.images.pull(spec.image)  # not on this node yet
        progress.note("pull", f"pulled {spec.image} in"
                      f" {asyncio.get_running_loop().time() - began:.1f}s")
        return await self.docker.containers.create_or_replace(name=name, config=config)

    async def _check(self, check: HealthCheck, container: Any, published: dict[str, Any],
                     progress: StartProgress | None = None) -> str | Ended | None:
        """None once the check passes, what the last probe found when it fails, or ENDED
        when the container exits first (its exit code then says more than any probe)."""
        address = published_address(check, published)
        if address is None:
            return f"port {check.port}/tcp of the container is not published"
        if progress is not None:
            progress.probe_started()
        probing = asyncio.ensure_future(wait_healthy(
            check, *address, seen=progress.probe if progress is not None else None))
        ended = asyncio.ensure_future(container.wait())
        try:
            await asyncio.wait({probing, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (probing, ended):
                task.cancel()
            await asyncio.gather(probing, ended, return_exceptions=True)
        if progress is not None:
            progress.check_ended()
        if (ended.done() and not ended.cancelled()) or probing.cancelled():
            return ENDED
        if (error := probing.exception()) is not None:  # a bug: fail it, never hang the start
            log.error("deployment health check broke", exc_info=error)
            return f"the check could not run: {error!r}"
        return probing.result()

    async def _unhealthy(self, request_id: str, container: Any, found: str) -> None:
        """Reported as an error with the container's last logs, then stopped and removed like
        a crashed one; the admin's word on an ERROR it holds would be to stop it anyway."""
        log.warning("deployment %s failed its health check: %s", request_id, found)
        # Out of running() first: the telemetry loop then sends no routine log tail of it
        # after its crash logs.
        self._stopping.add(request_id)
        self._reported.add(request_id)
        await self._send_crash_logs(request_id, None)
        await self.send(request_id, DeploymentReport(
            state="error", phase="health", detail=f"health check failed: {found}"[:4000]))
        await stop_container(container, request_id)
        await self._watch(request_id, container)

    async def _watch(self, request_id: str, container: Any, phase: Phase | None = None) -> None:
        result = await container.wait()
        code = result.get("StatusCode")
        if self.kept_paused(request_id):
            return
        if request_id in self._stopping:
            report = DeploymentReport(state="terminated", exit_code=code)
        else:
            report = DeploymentReport(state="error", phase=phase, exit_code=code,
                                      detail=f"container exited with code {code}")
            await self._send_crash_logs(request_id, code)
        log.info("deployment %s ended (%s, exit code %s)", request_id, report.state, code)
        if request_id not in self._reported:  # an unhealthy one's end was reported already
            await self.send(request_id, report)
        await self._remove(request_id, container)
        self._held.discard(request_id)
        self._stopping.discard(request_id)
        self._reported.discard(request_id)
        self._containers.pop(request_id, None)

    async def _remove(self, request_id: str, container: Any) -> None:
        try:
            await container.delete(force=True)
        except aiodocker.DockerError as exc:
            log.warning("could not remove the container of %s: %s", request_id, exc.message)

    async def _send_crash_logs(self, request_id: str, code: int | None,
                               only_some: bool = False) -> None:
        """only_some: sent only if the container wrote something (one that never ran)."""
        if self.telemetry is None:
            return
        try:
            logs = await self.logs(request_id)
        except ENGINE_GLITCHES as exc:  # the report that follows must still go out
            why = exc.message if isinstance(exc, aiodocker.DockerError) else repr(exc)
            logs = f"[edge-agent] logs unavailable: {why}"
        if only_some and not logs:
            return
        await self.telemetry(request_id,
                             DeploymentTelemetry(logs=logs, crashed=True, exit_code=code))

    async def _stop(self, request_id: str) -> None:
        container = self._containers.get(request_id)
        if container is None:
            return  # still being created: _run stops it once it exists
        await stop_container(container, request_id)

    def _spawn(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Its failure is logged here, where someone reads it, not by asyncio at exit."""
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a container task failed", exc_info=error)
