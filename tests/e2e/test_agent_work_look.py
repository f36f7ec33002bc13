"""An agent's work poll looks on the event loop where the answer writes nothing, and answers
there what the worker thread's look answers (entrypoints/http/agent_work.py `_look`, `_find`).

The node holds a served container; its polls say what it holds and what it has stopped. Where
the answer would record something (a start to hand out, a lost container, a phase of a runtime
control completed) the look goes to the thread, and so it does here too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from starlette.concurrency import run_in_threadpool
from starlette.testclient import TestClient

from application.agent_protocol import WorkPoll
from entrypoints.http import agent_work
from tests.e2e.test_http_appaloft import Workflow, post
from tests.e2e.test_http_support import running, services_of

pytestmark = pytest.mark.e2e


def _both(client: TestClient, node: UUID, poll: WorkPoll, threads: list[Any]) -> bool:
    """Whether the loop's and the thread's looks agree; True also when the loop's went to a
    thread (`threads` gains a call then)."""
    svc = services_of(client)
    portal = client.portal
    assert portal is not None  # inside `running`
    before = len(threads)
    on_loop = portal.call(agent_work._look, svc, node, poll)
    in_thread = agent_work._find(svc, node, poll)
    assert on_loop == in_thread
    return len(threads) == before


def test_a_node_holding_its_containers_is_looked_at_on_the_loop(
        any_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[Any] = []
    real = run_in_threadpool

    async def counted(func: Callable[..., Any], *args: Any) -> Any:
        threads.append(func)
        return await real(func, *args)

    monkeypatch.setattr(agent_work, "run_in_threadpool", counted)
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        node_id, token = flow.node()
        node = UUID(node_id)
        deployment = flow.deploy()
        rid = flow.show(deployment)["deployment"]["requestId"]
        on_loop = services_of(client).view.reads_async  # PostgreSQL; else always a thread

        # Not yet held: a start to hand out (it may fail to unseal, which is recorded).
        assert not _both(client, node, WorkPoll(deployments=[], stopped=[]), threads)
        flow.report(token, deployment, "ready")
        # Held and running, with and without the pause capability: the steady state.
        for poll in (WorkPoll(deployments=[rid], stopped=[]), WorkPoll(deployments=[rid])):
            assert _both(client, node, poll, threads) == on_loop
        # A stop asked: the pause is decided on the loop too.
        post(client, f"/resources/{flow.resource}/runtime/stop", {})
        pause = WorkPoll(deployments=[rid], stopped=[])
        assert _both(client, node, pause, threads) == on_loop
        assert client.portal is not None
        assert client.portal.call(
            agent_work._look, services_of(client), node, pause)[2]["pause_deployments"] == [rid]
        # The agent says it stopped it: that completes a phase, which is written, in a thread.
        assert not _both(client, node, WorkPoll(deployments=[rid], stopped=[rid]), threads)
        # Done: the stopped container is the steady state again.
        assert _both(client, node, WorkPoll(deployments=[rid], stopped=[rid]), threads) == on_loop
