"""The agent's container runner on podman with health-checked deployments: busybox httpd that
comes up late passes an HTTP check on a page it serves (ready only then), a 404 path fails with
the probe's result and the container's logs and the container is removed, a TCP check passes on
the served port and fails on one nothing listens on, and a container that exits while checked is
reported by its exit code. The reports are the ones the agent would send to the admin."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.request
import uuid
from typing import Any

import msgspec
import pytest

from application.agent_protocol import ContainerSpec, DeploymentReport, DeploymentTelemetry
from entrypoints.agent.containers import ContainerRunner
from tests.e2e.podman_harness import IMAGE, Engine

pytestmark = pytest.mark.e2e
HTTPD = "/bin/httpd -f -p 8080 -h /www"


class Agent:
    """A ContainerRunner whose reports are kept in order, as the admin would receive them."""

    def __init__(self, engine: Engine) -> None:
        self.reports: list[tuple[str, DeploymentReport]] = []
        self.telemetry: list[tuple[str, DeploymentTelemetry]] = []
        self.runner = ContainerRunner(engine.url, "127.0.0.1", self._send, self._telemetry)

    async def _send(self, request_id: str, report: DeploymentReport) -> None:
        self.reports.append((request_id, report))

    async def _telemetry(self, request_id: str, body: DeploymentTelemetry) -> None:
        self.telemetry.append((request_id, body))

    def of(self, request_id: str) -> list[DeploymentReport]:
        return [r for i, r in self.reports if i == request_id]

    async def until(self, request_id: str, count: int, within: float = 60) -> list[
            DeploymentReport]:
        deadline = time.monotonic() + within
        while len(self.of(request_id)) < count:
            assert time.monotonic() < deadline, f"{request_id}: {self.of(request_id)}"
            await asyncio.sleep(0.1)
        return self.of(request_id)

    async def gone(self, request_id: str, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while request_id in self.runner.held():
            assert time.monotonic() < deadline, f"{request_id} still held"
            await asyncio.sleep(0.1)


def spec(script: str, health: dict[str, Any] | None) -> ContainerSpec:
    return msgspec.convert({
        "request_id": uuid.uuid4().hex[:12], "image": IMAGE, "env": {}, "cpu_units": 256,
        "memory_mb": 64, "ports": [{"port": 8080, "protocol": "HTTP", "name": "web"}],
        "command": "/bin/sh", "arguments": f"-c '{script}'", "health": health}, ContainerSpec)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return bytes(answer.read())


def containers(engine: Engine) -> list[str]:
    found = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=engine.env,
                           capture_output=True, text=True, check=True, timeout=60)
    return found.stdout.split()


def test_health_checked_deployments_on_podman(engine: Engine) -> None:
    asyncio.run(scenario(engine))


async def scenario(engine: Engine) -> None:
    agent = Agent(engine)
    await agent.runner.open()
    try:
        await checks_pass_and_fail(agent, engine)
    finally:
        for request_id in agent.runner.held():
            agent.runner.stop(request_id)
        for request_id in list(agent.runner.held()):
            await agent.gone(request_id)
        await agent.runner.close()


async def checks_pass_and_fail(agent: Agent, engine: Engine) -> None:
    quick = {"interval_seconds": 0.3, "timeout_seconds": 1, "retries": 3}
    late = spec(f"echo starting; sleep 2; exec {HTTPD}",
                {"path": "/index.html", "port": 8080, "start_period_seconds": 10, **quick})
    missing = spec(f"echo serving; exec {HTTPD}", {"path": "/missing", "port": 8080, **quick})
    tcp = spec(f"exec {HTTPD}", {"type": "tcp", "port": 8080, **quick})
    nothing = spec(f"exec {HTTPD}", {"type": "tcp", "port": 9090, **quick})
    dies = spec("sleep 1; exit 3", {"port": 8080, "start_period_seconds": 30, **quick})
    plain = spec(f"exec {HTTPD}", None)
    began = time.monotonic()
    for each in (late, missing, tcp, nothing, dies, plain):
        assert agent.runner.start(each)

    [ready] = await agent.until(late.request_id, 1)
    assert (ready.state, ready.phase) == ("ready", "health")
    assert time.monotonic() - began >= 2, "ready only once httpd served, after its sleep"
    link = ready.ports["web"]["link"]
    assert await asyncio.to_thread(fetch, f"{link}/index.html") == b"hello from the edge\n"

    [failed] = await agent.until(missing.request_id, 1)
    assert (failed.state, failed.phase) == ("error", "health")
    assert failed.detail == "health check failed: GET /missing answered 404 (expected 200)"
    [(_, logs)] = [t for t in agent.telemetry if t[0] == missing.request_id]
    assert logs.crashed and "serving" in logs.logs
    await agent.gone(missing.request_id)
    assert f"edge-{missing.request_id}" not in containers(engine)
    assert len(agent.of(missing.request_id)) == 1, "its removal is not reported again"

    [ok] = await agent.until(tcp.request_id, 1)
    assert (ok.state, ok.phase) == ("ready", "health")

    [refused] = await agent.until(nothing.request_id, 1)
    assert (refused.state, refused.phase) == ("error", "health")
    # 9090 is published on loopback for the check alone. Rootful podman refuses the
    # connection; a port forwarder (rootless podman) accepts it and drops it at once.
    assert re.fullmatch(r"health check failed: (cannot connect to 127\.0\.0\.1:\d+: connection"
                        r" refused|127\.0\.0\.1:\d+ closed the connection at once .*)",
                        refused.detail), refused.detail

    [exited] = await agent.until(dies.request_id, 1)
    assert (exited.state, exited.phase, exited.exit_code) == ("error", "health", 3)
    assert exited.detail == "container exited with code 3"

    [at_once] = await agent.until(plain.request_id, 1)
    assert (at_once.state, at_once.phase) == ("ready", "start")
