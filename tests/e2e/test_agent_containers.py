"""The agent's container runner on podman, where a start goes wrong (the runner alone, its
reports kept as the admin would get them; tests/e2e/test_agent_health_containers.py has the
harness).

A version whose arguments or command have unbalanced quotes fails at once with the reason
instead of leaving the deployment DEPLOYING until the admin's start deadline. A container the
engine created but could not start (runc cannot run its command) is reported as an error with
the engine's reason and then removed, not left on the node as "Created".
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tests.e2e.podman_harness import Engine
from tests.e2e.test_agent_health_containers import Agent, containers, spec

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
