"""Health-checked deployments on podman, with busybox httpd.

The agent's container runner alone (its reports kept as the admin would get them): httpd that
comes up late passes an HTTP check on a page it serves (ready only then), a 404 path fails with
the probe's result and the container's logs and the container is removed, a TCP check passes on
the served port and fails on one nothing listens on, a container that exits while checked is
reported by its exit code, one stopped while checked ends as asked, and an image that cannot be
pulled fails in the pull phase. An agent restarted while a check is under way checks again and
reports the deployment ready.

Then a real agent process and an admin in this process (the Resource routes are not there yet:
the test calls the resource services on the admin's own store): a Resource with an HTTP health
policy succeeds once healthy; a redeploy whose check fails is failed with the probe's result and
its logs while the first keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest

from application.agent_protocol import (
    ContainerSpec,
    DeploymentProgress,
    DeploymentReport,
    DeploymentTelemetry,
)
from application.deployment_attempts import CreateDeployment, DeploymentAttempts
from application.environments import CreateEnvironment, Environments
from application.projects import CreateProject, Projects
from application.resources import (
    ConfigureHealthPolicy,
    ConfigureNetworkProfile,
    ConfigureSource,
    CreateResource,
    Resources,
)
from domain.deployment import Deployment, deployment_uuid
from domain.deployment_attempt import AttemptStatus, attempt_of
from entrypoints.agent.containers import ContainerRunner
from tests.e2e.agent_fixtures import (
    Children,
    InProcessAdmin,
    enroll_agent,
    eventually,
    in_process_admin,
)
from tests.e2e.podman_harness import IMAGE, Engine

pytestmark = pytest.mark.e2e
HTTPD = "/bin/httpd -f -p 8080 -h /www"
NODE = uuid.uuid4()  # the node of every runner below unless a test says otherwise
admin = in_process_admin


class Agent:
    """A ContainerRunner whose reports are kept in order, as the admin would receive them,
    and, in `said`, its progress lines and reports in the order they came."""

    def __init__(self, engine: Engine, node: UUID | None = NODE) -> None:
        self.reports: list[tuple[str, DeploymentReport]] = []
        self.telemetry: list[tuple[str, DeploymentTelemetry]] = []
        self.said: list[tuple[str, str, str]] = []  # request id, phase or report, message
        self.runner = ContainerRunner(engine.url, "127.0.0.1", self._send, self._telemetry,
                                      self._progress, node=lambda: node)

    async def _send(self, request_id: str, report: DeploymentReport) -> None:
        self.reports.append((request_id, report))
        self.said.append((request_id, "report", report.state))

    async def _progress(self, request_id: str, body: DeploymentProgress) -> None:
        await asyncio.sleep(0.01)  # a round trip: the report must still come after it
        self.said.append((request_id, body.phase, body.message))

    def lines(self, request_id: str) -> list[tuple[str, str]]:
        return [(phase, message) for i, phase, message in self.said if i == request_id]

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


def containers(engine: Engine, running: bool = False) -> list[str]:
    found = subprocess.run(["podman", "ps", *(() if running else ("-a",)), "--format",
                            "{{.Names}}"], env=engine.env, capture_output=True, text=True,
                           check=True, timeout=60)
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
    stopped = spec(f"exec {HTTPD}", {"path": "/missing", "port": 8080,
                                     "start_period_seconds": 60, **quick})
    absent = msgspec.structs.replace(spec(f"exec {HTTPD}", None),
                                     image="localhost/edge-test/absent:1")
    began = time.monotonic()
    for each in (late, missing, tcp, nothing, dies, plain, stopped, absent):
        assert agent.runner.start(each)

    [ready] = await agent.until(late.request_id, 1)
    assert (ready.state, ready.phase) == ("ready", "health")
    assert time.monotonic() - began >= 2, "ready only once httpd served, after its sleep"
    link = ready.ports["web"].link
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

    [unpulled] = await agent.until(absent.request_id, 1)
    assert (unpulled.state, unpulled.phase) == ("error", "pull"), unpulled
    said_as_it_went(agent, late, missing, plain, absent)

    # Stopped while its check still runs (the admin gave up on it, or forgot it): it ends as
    # asked, never ready.
    assert stopped.request_id in agent.runner.running()
    assert agent.runner.stop(stopped.request_id)
    [ended] = await agent.until(stopped.request_id, 1)
    assert (ended.state, ended.phase) == ("terminated", None)
    await agent.gone(stopped.request_id)


def said_as_it_went(agent: Agent, late: ContainerSpec, missing: ContainerSpec,
                    plain: ContainerSpec, absent: ContainerSpec) -> None:
    """Each start's progress lines came in order before its report: the image found (or its
    pull), the container started, then its probes (the first failures, a count, the pass)."""
    name = f"container edge-{late.request_id} started"
    lines = agent.lines(late.request_id)
    assert lines[:2] == [("pull", f"image {IMAGE} is on this node already"), ("start", name)]
    probes = [message for phase, message in lines if phase == "health"]
    # httpd sleeps 2 s first: refused probes, three said, the rest counted, then the pass.
    assert [p.split(":")[0] for p in probes[:3]] == [f"probe {n} failed" for n in (1, 2, 3)]
    assert re.fullmatch(r"\d+ more probe\(s\) failed, \d+ in all; last: .*", probes[3]), probes
    assert re.fullmatch(r"probe \d+ passed \d+\.\d\ds after the first; healthy", probes[4])
    assert lines[2 + len(probes):] == [("report", "ready")] and len(probes) == 5, lines

    lines = agent.lines(missing.request_id)
    # The first probe may come before httpd listens (refused) on a loaded machine.
    phase, first = lines[2]
    assert phase == "health" and first.startswith("probe 1 failed: ") and first.endswith(
        ("GET /missing answered 404 (expected 200)", "connection refused")), lines
    assert any(m.endswith("answered 404 (expected 200)") for _, m in lines), lines
    assert lines[-1] == ("report", "error") and len(lines) <= 7, lines
    assert [phase for phase, _ in agent.lines(plain.request_id)] == ["pull", "start", "report"]
    assert agent.lines(absent.request_id) == [
        ("pull", f"pulling {absent.image}"), ("report", "error")]


def test_an_agent_restarted_while_checking_checks_again_and_reports_ready(
        engine: Engine) -> None:
    asyncio.run(restarted(engine))


async def restarted(engine: Engine) -> None:
    late = spec(f"(sleep 4; echo ok > /www/late.html) & exec {HTTPD}",
                {"path": "/late.html", "port": 8080, "start_period_seconds": 60,
                 "interval_seconds": 0.3})
    first = Agent(engine)
    await first.runner.open()
    try:
        first.runner.start(late)
        deadline = time.monotonic() + 30
        while f"edge-{late.request_id}" not in containers(engine, running=True):
            assert time.monotonic() < deadline, "not started"
            await asyncio.sleep(0.1)
    finally:
        await first.runner.close()  # as a self-update does: the container keeps running
    assert first.of(late.request_id) == []
    second = Agent(engine)
    await second.runner.open()
    try:
        assert second.runner.held() == [late.request_id]
        [ready] = await second.until(late.request_id, 1)
        assert (ready.state, ready.phase) == ("ready", "health")
        link = ready.ports["web"].link
        assert await asyncio.to_thread(fetch, f"{link}/late.html") == b"ok\n"
        assert second.runner.stop(late.request_id)
        await second.gone(late.request_id)
    finally:
        await second.runner.close()


# ---- through an admin: a Resource with a health policy, deployed and redeployed -------------


def health(path: str) -> ConfigureHealthPolicy:
    return msgspec.convert({"healthCheck": {
        "http": {"path": path}, "intervalSeconds": 1, "timeoutSeconds": 1, "retries": 2}},
        ConfigureHealthPolicy)


def test_a_resource_succeeds_once_healthy_and_a_failing_redeploy_leaves_it_serving(
        engine: Engine, admin: InProcessAdmin, children: Children, tmp_path: Path) -> None:
    with_an_agent(engine, admin, children, tmp_path)


def with_an_agent(engine: Engine, admin: InProcessAdmin, children: Children,
                  tmp: Path) -> None:
    services = admin.services
    enroll_agent(admin, children, engine, tmp)
    resources = Resources(services.writes, services.box)
    attempts = DeploymentAttempts(services.deployments)
    project = Projects(services.writes, services.resource_reads).create(CreateProject(name="Shop"))
    environment = Environments(services.writes, services.box).create(CreateEnvironment(
        project_id=project, name="production"))
    resource = resources.create(CreateResource(project_id=project, environment_id=environment,
                                               name="web"))
    resources.configure_source(resource, msgspec.convert(
        {"source": {"locator": IMAGE}}, ConfigureSource))
    resources.configure_network(resource, msgspec.convert(
        {"networkProfile": {"internalPort": 8080}}, ConfigureNetworkProfile))
    resources.configure_health(resource, health("/index.html"))

    def settled(request_id: str) -> tuple[AttemptStatus, dict[str, Any]] | None:
        deployment: Deployment = services.store.repository.get(deployment_uuid(request_id))
        status = attempt_of(deployment)
        if status in (AttemptStatus.CREATED, AttemptStatus.RUNNING):
            return None
        # The aggregate is read from the store; the row must have caught up with it first.
        services.projector.wait(services.store.recorder.max_notification_id() or 0)
        return status, services.view.get("deployments", request_id) or {}

    first = attempts.create(CreateDeployment(
        project_id=project, environment_id=environment, resource_id=resource)).request_id
    status, row = eventually(lambda: settled(first), "the first attempt settled", children, 90)
    assert status == AttemptStatus.SUCCEEDED, row
    link = json.loads(row["ports"])["8080"]["link"]
    assert fetch(f"{link}/index.html") == b"hello from the edge\n"

    resources.configure_health(resource, health("/missing"))
    second = attempts.redeploy(resource).request_id
    status, row = eventually(lambda: settled(second), "the redeploy settled", children, 90)
    assert status == AttemptStatus.FAILED, row
    assert row["error_detail"] == (
        "health check failed: GET /missing answered 404 (expected 200)")
    logs = eventually(lambda: services.view.get("deployment_logs", second), "crash logs",
                      children)
    assert logs["crash_logs"] is not None
    assert fetch(f"{link}/index.html") == b"hello from the edge\n", "the first still serves"
    assert settled(first) == (AttemptStatus.SUCCEEDED, services.view.get("deployments", first))
    eventually(lambda: f"edge-{second}" not in containers(engine), "the failed one removed",
               children, 60)

    services.deployments.stop(first)
    eventually(lambda: f"edge-{first}" not in containers(engine), "the first removed",
               children, 60)
