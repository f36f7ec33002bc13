"""A failed self-update, seen from a work loop talking to a real `edge-admin serve` on
PostgreSQL across a slow network: the update command runs once per request, and the agent's
work is not held up once it failed.

While the agent updates, every poll answers at once with the pending request, until the
agent registers again. A poll under way across that moment carried the request a second time
(answered before the registration, read after the agent had given up on the update: the update
ran again), or waited its whole long poll refusing work (sent before the registration, looked at
after it: a command waited ~25 s).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from entrypoints.agent.api import AgentApi
from entrypoints.agent.identity import Identity
from entrypoints.agent.journal import Journal
from entrypoints.agent.session import Admission, Backoff, Link
from entrypoints.agent.work import WorkLoop
from tests.e2e.agent_fixtures import DEADLINE, Agents, module_admin
from tests.e2e.test_agent_commands import command, ended

pytestmark = pytest.mark.e2e
admin = module_admin(postgres=True)


class SlowPolls(httpx.AsyncBaseTransport):
    """The network between agent and admin, where a work poll takes `before` s to reach the
    admin and its answer `after` s to come back."""

    def __init__(self, before: float, after: float) -> None:
        self.inner, self.before, self.after = httpx.AsyncHTTPTransport(), before, after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        poll = request.url.path == "/agent/v1/work"
        if poll:
            await asyncio.sleep(self.before)
        response = await self.inner.handle_async_request(request)
        if poll:
            await asyncio.sleep(self.after)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {DEADLINE}s"
        await asyncio.sleep(0.05)


async def heartbeats(link: Link) -> None:
    """Keeps the node healthy (only healthy nodes are triggered)."""
    while True:
        session = await link.session()
        await link.api.heartbeat(session.api_token, "healthy")
        await asyncio.sleep(1)


@pytest.mark.parametrize(("before", "after"), [(0.0, 1.0), (1.0, 0.0)],
                         ids=["answer-read-after-the-failure", "poll-looked-at-after-it"])
def test_a_failed_self_update_runs_once_and_holds_up_no_work(
    agents: Agents, tmp_path: Path, before: float, after: float
) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    runs = tmp_path / "runs"

    def ran() -> int:
        return len(runs.read_text().split()) if runs.exists() else 0

    async def scenario() -> tuple[int, float]:
        async with httpx.AsyncClient(base_url=admin.url, transport=SlowPolls(before, after),
                                     timeout=10) as client:
            link = Link(Admission("1.0.0", True, key, {}), Identity("random"), None,
                        Backoff(0.1, 1.0, random.Random(0)))
            link.attach(AgentApi(client))
            node = (await link.session()).node_id
            work = WorkLoop(link, Journal(tmp_path / "journal"), 65_536,
                            f"echo run >> {runs}; sleep 0.3; exit 1")
            loops = [asyncio.create_task(heartbeats(link)), asyncio.create_task(work.run())]
            try:
                await asyncio.to_thread(admin.http.post, "/api/v1/self_update_requests", json={
                    "targeting": {"type": "clusters", "cluster_names": [cluster]}})
                await until(lambda: ran() == 1 and not work.updating, "failed update")
                asked = time.monotonic()
                later = await asyncio.to_thread(
                    command, admin, "echo after", {"type": "nodes", "node_ids": [str(node)]})
                [row] = (await asyncio.to_thread(ended, agents, later, 1)).values()
                assert row["output"] == "after\n"
                waited = time.monotonic() - asked
                await asyncio.sleep(2 * (before + after) + 1)  # any repeat would be under way
                return ran(), waited
            finally:
                for loop in loops:
                    loop.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    update_runs, waited = asyncio.run(scenario())
    assert update_runs == 1
    assert waited < 5, f"a command waited {waited:.1f} s for the agent after the update failed"
