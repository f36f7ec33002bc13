"""The agent's hosting side: the container runner tied to the admin. Reports are retried until
the admin has them (a 404 means the deployment is no longer this node's: dropped), and the
node's placement profile and cached images are sent at start and then periodically."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiodocker

from application.agent_protocol import (
    AgentHostReport,
    ContainerSample,
    DeploymentProgress,
    DeploymentReport,
    DeploymentTelemetry,
    HealthObservation,
    Location,
)
from entrypoints.agent.api import AdminError, Unreachable
from entrypoints.agent.containers import ENGINE_GLITCHES, ContainerRunner
from entrypoints.agent.health_watch import HealthWatch
from entrypoints.agent.host_stats import host_memory
from entrypoints.agent.session import AgentFatal, Link, retry_delay

log = logging.getLogger(__name__)
HOST_REPORT_EVERY = 15.0
HEALTH_TRIES = 4


@dataclass(frozen=True)
class HostingConfig:
    """--docker-url and what the agent tells the admin about its host."""

    docker_url: str
    public_ip: str
    location: dict[str, Any] = field(default_factory=dict)
    cpu_units: int | None = None
    memory_mb: int | None = None
    fleet: str | None = None
    telemetry_interval: float = 10.0


class Hosting:
    """Owns the ContainerRunner for one agent run."""

    def __init__(self, link: Link, config: HostingConfig) -> None:
        self.link, self.config = link, config
        self.runner = ContainerRunner(config.docker_url, config.public_ip, self.deliver,
                                      self.send_telemetry, self.send_progress,
                                      node=lambda: link.identity.node_id)
        self.health = HealthWatch(self.runner, self.send_health)

    async def open(self) -> None:
        try:
            await self.runner.open()
        except (aiodocker.DockerError, OSError) as exc:
            await self.runner.close()  # its client session, else asyncio complains at exit
            raise AgentFatal(f"cannot reach the container engine at {self.config.docker_url}:"
                             f" {exc}") from exc

    async def deliver(self, request_id: str, report: DeploymentReport) -> None:
        self.health.reported(request_id, report)
        failures = 0
        while True:
            session = await self.link.session()
            try:
                await self.link.api.report_on(session.api_token, request_id, report)
                return
            except AdminError as exc:
                if exc.status == 401:
                    self.link.drop(session, forget_token=False)
                    continue
                if exc.status == 404:
                    log.warning("admin no longer knows deployment %s; report dropped",
                                request_id)
                    return
                log.error("admin refused the report on %s: %s", request_id, exc)
                return
            except Unreachable:
                failures += 1
                await asyncio.sleep(retry_delay(failures))

    async def send_telemetry(self, request_id: str, body: DeploymentTelemetry) -> None:
        """Best effort: a lost sample is replaced by the next one."""
        await self._once("telemetry", request_id,
                         lambda token: self.link.api.report_on(token, request_id, body))

    async def send_progress(self, request_id: str, body: DeploymentProgress) -> None:
        """Once: a start's progress line is worth no wait (its report follows it). An admin
        that predates the route answers 404."""
        await self._once("progress", request_id,
                         lambda token: self.link.api.report_on(token, request_id, body))

    async def _once(self, what: str, request_id: str,
                    send: Callable[[str], Awaitable[object]]) -> None:
        """One try with this node's api token; what is not delivered is dropped."""
        try:
            session = await self.link.session()
            await send(session.api_token)
        except (Unreachable, AdminError) as exc:
            log.debug("%s of %s not delivered: %s", what, request_id, exc)

    async def send_health(self, request_id: str, body: HealthObservation) -> None:
        """Tried a few times (a change is worth more than a sample), then dropped: the next
        heartbeat repeats the state. An admin that predates the route answers 404."""
        for failures in range(HEALTH_TRIES):
            try:
                session = await self.link.session()
                await self.link.api.report_on(session.api_token, request_id, body)
                return
            except Unreachable as exc:
                log.debug("health of %s not delivered yet: %s", request_id, exc)
                await asyncio.sleep(min(5.0, 0.5 * 2 ** failures))
            except AdminError as exc:
                log.debug("health of %s not delivered: %s", request_id, exc)
                return

    async def report_telemetry(self) -> None:
        """Every running container's log tail and a resource sample, each interval."""
        while True:
            await asyncio.sleep(self.config.telemetry_interval)
            for request_id in self.runner.running():
                try:
                    logs = await self.runner.logs(request_id)
                    sample = await self.runner.sample(request_id)
                except ENGINE_GLITCHES as exc:  # it ended meanwhile
                    log.debug("no telemetry for %s: %r", request_id, exc)
                    continue
                body = DeploymentTelemetry(
                    logs=logs, sample=ContainerSample(**sample) if sample is not None else None)
                await self.send_telemetry(request_id, body)

    async def report_host(self) -> None:
        """Sends the profile now and then every HOST_REPORT_EVERY seconds."""
        while True:
            try:
                await self._report_once()
            except (Unreachable, AdminError, *ENGINE_GLITCHES) as exc:
                log.debug("host report not delivered: %s", exc)
            await asyncio.sleep(HOST_REPORT_EVERY)

    async def _report_once(self) -> None:
        session = await self.link.session()
        memory = host_memory() or {}
        cfg = self.config
        body = AgentHostReport(
            location=Location(**cfg.location) if cfg.location else None,
            cpu_units=cfg.cpu_units, memory_mb=cfg.memory_mb, fleet=cfg.fleet,
            detected_cpu_units=(os.cpu_count() or 1) * 1024,
            detected_memory_mb=int(memory.get("total_bytes", 0)) // (1024 * 1024),
            images=await self.runner.images())
        await self.link.api.host(session.api_token, body)

    async def close(self) -> None:
        await self.health.close()
        await self.runner.close()
