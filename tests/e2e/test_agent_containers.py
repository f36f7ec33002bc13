"""The agent's container runner on podman, where a start goes wrong (the runner alone, its
reports kept as the admin would get them; tests/e2e/test_agent_health_containers.py has the
harness).

A version whose arguments or command have unbalanced quotes fails at once with the reason
instead of leaving the deployment DEPLOYING until the admin's start deadline. A container the
engine created but could not start (runc cannot run its command) is reported as an error with
the engine's reason and then removed, not left on the node as "Created". An agent that
stopped between a container's start and its ready report (killed, or its report never went
through) and is started again reports the container ready, with its ports. Agents sharing
one engine adopt only their own node's containers (and those made before containers named
their node, if they know their node). A TCP/UDP port is published on one host port for both
protocols, the one reported.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid

import msgspec
import pytest

from application.agent_protocol import DeploymentReport, PortMapping
from entrypoints.agent.containers import ContainerRunner
from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_agent_health_containers import NODE, Agent, containers, spec

pytestmark = pytest.mark.e2e


def test_unbalanced_quotes_fail_the_start_at_once(engine: Engine) -> None:
    asyncio.run(unbalanced_quotes(engine))


async def unbalanced_quotes(engine: Engine) -> None:
    agent = Agent(engine)
    await agent.runner.open()
    try:
        arguments = msgspec.structs.replace(spec("sleep 60", None), arguments="-c 'echo hi")
        command = msgspec.structs.replace(spec("sleep 60", None), command='/bin/sh "-x')
        for each in (arguments, command):
            assert agent.runner.start(each)
        [failed] = await agent.until(arguments.request_id, 1, within=10)
        assert (failed.state, failed.phase) == ("error", "start")
        assert failed.detail == ("cannot split the arguments \"-c 'echo hi\": No closing"
                                 " quotation"), failed.detail
        [failed] = await agent.until(command.request_id, 1, within=10)
        assert failed.state == "error" and failed.detail is not None
        assert failed.detail.startswith("cannot split the command"), failed.detail
        assert not {arguments.request_id, command.request_id} & set(agent.runner.held())
    finally:
        await agent.runner.close()


def test_a_container_that_cannot_start_is_removed(engine: Engine) -> None:
    asyncio.run(cannot_start(engine))


async def cannot_start(engine: Engine) -> None:
    agent = Agent(engine)
    await agent.runner.open()
    try:
        missing = msgspec.structs.replace(spec("sleep 60", None), command="/nonexistent",
                                          arguments=None)
        assert agent.runner.start(missing)
        [failed] = await agent.until(missing.request_id, 1)
        assert (failed.state, failed.phase) == ("error", "start")
        assert failed.detail is not None and "/nonexistent" in failed.detail, failed.detail
        await agent.gone(missing.request_id)
        assert f"edge-{missing.request_id}" not in containers(engine)
    finally:
        await agent.runner.close()


def test_a_container_started_but_not_reported_is_reported_ready_after_a_restart(
        engine: Engine) -> None:
    asyncio.run(started_not_reported(engine))


async def unanswered(request_id: str, report: DeploymentReport) -> None:
    """An admin that never takes a report: the agent dies before its ready report is in."""
    await asyncio.Event().wait()


async def started_not_reported(engine: Engine) -> None:
    plain = spec("sleep 120", None)
    first = ContainerRunner(engine.url, "127.0.0.1", unanswered, node=lambda: NODE)
    await first.open()
    try:
        assert first.start(plain)
        deadline = time.monotonic() + 30
        while f"edge-{plain.request_id}" not in containers(engine, running=True):
            assert time.monotonic() < deadline, "not started"
            await asyncio.sleep(0.1)
    finally:
        await first.close()  # as a kill -9 does: the container keeps running
    second = Agent(engine)
    await second.runner.open()
    try:
        assert plain.request_id in second.runner.held()
        [ready] = await second.until(plain.request_id, 1, within=10)
        assert (ready.state, ready.phase, ready.public_ip) == ("ready", "start", "127.0.0.1")
        web = ready.ports["web"]
        assert web.internal == 8080 and web.external
        assert web.link == f"http://127.0.0.1:{web.external}"
        # The stop the admin held back until then is carried out.
        assert second.runner.stop(plain.request_id)
        [_, ended] = await second.until(plain.request_id, 2)
        assert ended.state == "terminated"
        await second.gone(plain.request_id)
        assert f"edge-{plain.request_id}" not in containers(engine)
    finally:
        await second.runner.close()


def test_agents_sharing_an_engine_adopt_only_their_own_containers(engine: Engine) -> None:
    asyncio.run(sharing(engine))


async def sharing(engine: Engine) -> None:
    mine = spec("sleep 120", None)
    first = Agent(engine)
    await first.runner.open()
    try:
        assert first.runner.start(mine)
        [ready] = await first.until(mine.request_id, 1)
        assert ready.state == "ready"
    finally:
        await first.runner.close()  # the container keeps running
    # Made by an agent from before containers named their node.
    older = uuid.uuid4().hex[:12]
    subprocess.run(["podman", "run", "-d", "--name", f"edge-{older}", "--label",
                    f"edge.request_id={older}", IMAGE, "sleep", "120"], env=engine.env,
                   check=True, capture_output=True, timeout=60)
    # Another node's agent leaves this node's container alone; one made before containers
    # named their node goes to whichever agent knows its node (README: after an upgrade that
    # is the node that made it). A new node (no id yet) takes neither.
    other, new = Agent(engine, uuid.uuid4()), Agent(engine, None)
    for each, held in ((other, {older}), (new, set())):
        await each.runner.open()
        try:
            assert {mine.request_id, older} & set(each.runner.held()) == held
        finally:
            await each.runner.close()
    again = Agent(engine)
    await again.runner.open()
    try:
        assert {mine.request_id, older} <= set(again.runner.held())
        [ready] = await again.until(mine.request_id, 1)
        assert ready.state == "ready"
        for request_id in (mine.request_id, older):
            assert again.runner.stop(request_id)
            await again.gone(request_id)
        assert [r.state for r in again.of(older)] == ["terminated"]
        assert not {f"edge-{mine.request_id}", f"edge-{older}"} & set(containers(engine))
    finally:
        await again.runner.close()


def test_a_tcp_udp_port_is_published_on_one_host_port_for_both(engine: Engine) -> None:
    asyncio.run(both_protocols(engine))


async def both_protocols(engine: Engine) -> None:
    agent = Agent(engine)
    await agent.runner.open()
    game = msgspec.convert({"port": 9000, "protocol": "TCP/UDP", "name": "game"}, PortMapping)
    served = msgspec.structs.replace(spec("sleep 120", None),
                                     ports=[*spec("", None).ports, game])
    try:
        assert agent.runner.start(served)
        [ready] = await agent.until(served.request_id, 1)
        assert ready.state == "ready", ready
        external = ready.ports["game"].external
        assert ready.ports["game"].link == f"127.0.0.1:{external}"
        shown = subprocess.run(["podman", "inspect", f"edge-{served.request_id}"],
                               env=engine.env, capture_output=True, text=True, check=True,
                               timeout=60)
        published = json.loads(shown.stdout)[0]["NetworkSettings"]["Ports"]
        assert [b["HostPort"] for b in published["9000/tcp"]] == [str(external)]
        assert [b["HostPort"] for b in published["9000/udp"]] == [str(external)]
        assert published["8080/tcp"][0]["HostPort"] == str(ready.ports["web"].external)
    finally:
        agent.runner.stop(served.request_id)
        await agent.gone(served.request_id)
        await agent.runner.close()


def test_the_least_cpu_a_version_may_ask_for_still_starts(engine: Engine) -> None:
    asyncio.run(least_cpu(engine))


async def least_cpu(engine: Engine) -> None:
    # 1 to 10 units (1/1024 vCPU each) is a CFS quota under the engine's 1 ms: every start
    # failed with "CPU cfs quota cannot be less than 1ms".
    agent = Agent(engine)
    await agent.runner.open()
    try:
        tiny = msgspec.structs.replace(spec("sleep 60", None), cpu_units=1)
        assert agent.runner.start(tiny)
        [report] = await agent.until(tiny.request_id, 1)
        assert report.state == "ready", report.detail
        # Removed, as the engine is shared with tests that count what is left on it.
        assert agent.runner.stop(tiny.request_id)
        await agent.gone(tiny.request_id)
    finally:
        await agent.runner.close()
