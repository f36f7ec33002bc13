"""The agent's container runner on podman, where a start goes wrong (the runner alone, its
reports kept as the admin would get them; tests/e2e/test_agent_health_containers.py has the
harness).

A version whose arguments or command have unbalanced quotes fails at once with the reason
instead of leaving the deployment DEPLOYING until the admin's start deadline.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tests.e2e.podman_harness import Engine
from tests.e2e.test_agent_health_containers import Agent, spec

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
