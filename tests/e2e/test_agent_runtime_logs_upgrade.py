"""An agent of this release shipping runtime logs to an admin of the release before
RuntimeLogMark (1fb738a^), as while a fleet's admins are upgraded one by one: that admin refuses
a batch that says where it starts (422: its bodies take no field they do not know). The agent's
own shipping code (LogShipper over its AgentApi) sends it again without the mark, keeps sending
none for a while, and tries marks again after it: no line is lost (it skipped such a batch,
all its lines lost, and marked every next one, lost the same way)."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.testclient import TestClient

from application.agent_protocol import MAX_LOG_BATCH, RuntimeLogBatch, RuntimeLogLine
from entrypoints.agent.api import AgentApi
from entrypoints.agent.identity import Identity
from entrypoints.agent.log_shipping import MARKS_REFUSED_FOR, LogShipper
from entrypoints.agent.session import Admission, Backoff, Link
from entrypoints.http.agent_runtime_logs import AgentRuntimeLogResponse
from entrypoints.http.inputs import agent_report, services
from entrypoints.http.responses import ok
from tests.e2e.test_http_runtime_logs import deployed, logs
from tests.e2e.test_http_support import running
from tests.fakes import WholeSecondEngine
from tests.unit.test_agent_log_shipping import START

pytestmark = pytest.mark.e2e
PATH = "/agent/v1/deployments/{request_id}/runtime-logs"


class RuntimeLogBatchBefore(msgspec.Struct, forbid_unknown_fields=True):
    """RuntimeLogBatch as the release before RuntimeLogMark had it: its lines alone."""

    lines: Annotated[list[RuntimeLogLine], Meta(max_length=MAX_LOG_BATCH)]


async def runtime_logs_before(request: Request) -> Response:
    """The route as the release before RuntimeLogMark had it: this release's admin otherwise
    (its node and request-id checks, its body decoding and error envelope, its store)."""
    request_id, last = await agent_report(
        request, RuntimeLogBatchBefore, lambda node, rid, batch: services(request)
        .runtime_logs.append(node, rid, RuntimeLogBatch(lines=batch.lines)))
    return ok(request, AgentRuntimeLogResponse(request_id=request_id, last_sequence=last))


class Admin:
    """The admin app's runtime-log route: of the release before until `upgraded`; each batch
    it is sent is kept (`batches`). The route is every app's (entrypoints/http/
    agent_runtime_logs.py ROUTES): `monkeypatch` gives it back its own at the test's end."""

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        (route,) = [r for r in client.app.routes  # type: ignore[attr-defined]
                    if isinstance(r, Route) and r.path == PATH]
        self.current = route.endpoint
        self.upgraded = False
        self.batches: list[dict[str, Any]] = []
        monkeypatch.setattr(route, "app", request_response(self.take))

    async def take(self, request: Request) -> Response:
        self.batches.append(json.loads(await request.body()))
        endpoint = self.current if self.upgraded else runtime_logs_before
        return await endpoint(request)

    def marked(self) -> list[bool]:
        """Of each batch sent, whether it said where it starts."""
        return ["after" in batch for batch in self.batches]


class Containers:
    """The agent's one running container, `engine` (what the shipper reads of its runner)."""

    def __init__(self, request_id: str, engine: WholeSecondEngine) -> None:
        self.request_id, self.engine = request_id, engine

    def running(self) -> list[str]:
        return [self.request_id]

    def held(self) -> list[str]:
        return [self.request_id]

    def container(self, request_id: str) -> Any | None:
        return self.engine if request_id == self.request_id else None


@contextlib.asynccontextmanager
async def shipper(client: TestClient, token: dict[str, str], request_id: str,
                  engine: WholeSecondEngine, clock: Callable[[], float]
                  ) -> AsyncIterator[LogShipper]:
    """The agent's log shipper for the node of `token`, talking to the client's app."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as http:
        identity = Identity("random", api_token=token["Authorization"].removeprefix("Bearer "))
        link = Link(Admission("1.0.0", False, None, {}), identity, None,
                    Backoff(0.1, 1.0, random.Random(0)))
        link.attach(AgentApi(http))
        yield LogShipper(Containers(request_id, engine), link, clock=clock)


def test_a_batch_an_admin_of_the_release_before_refuses_is_sent_without_its_mark(
        any_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with running(any_url) as client:
        flow, token, _, request_id = deployed(client)
        admin, engine, now = Admin(client, monkeypatch), WholeSecondEngine(), [0.0]

        async def play() -> None:
            async with shipper(client, token, request_id, engine, lambda: now[0]) as agent:
                engine.write("stdout", START, "a")
                engine.write("stderr", START, "b")
                await agent.round()  # refused with its mark: sent again without it
                engine.write("stdout", START, "c")
                engine.write("stdout", START + 1, "d")
                now[0] += 2
                await agent.round()  # without one at once
                engine.write("stdout", START + 1, "e")
                now[0] += MARKS_REFUSED_FOR - 3
                await agent.round()  # still without
                admin.upgraded = True
                engine.write("stderr", START + 2, "f")
                now[0] += 1
                await agent.round()  # marks are tried again, and taken

        assert client.portal is not None  # inside `running`: on the app's own loop
        client.portal.call(play)
        taken = [entry["message"] for entry in logs(client, flow.resource)]
        assert taken == ["a", "b", "c", "d", "e", "f"], taken
        assert admin.marked() == [True, False, False, False, True]
