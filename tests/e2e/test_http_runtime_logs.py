"""A resource's runtime logs through HTTP on every store (issue 17): lines an agent ships for a
deployment's container, read by tail, cursor, since and service, followed, streamed as
Server-Sent Events, masked, bounded per deployment; and bad input answered 4xx."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from application.agent_protocol import RuntimeLogBatch
from entrypoints.agent.api import encode
from entrypoints.agent.log_shipping import Cursor, advanced, mark, new_lines
from tests.e2e.test_http_appaloft import SECRET, Workflow, get, post
from tests.e2e.test_http_appaloft_watch import later
from tests.e2e.test_http_support import AUTH, MISSING, error, running
from tests.fakes import WholeSecondEngine

pytestmark = pytest.mark.e2e
AT = "2026-12-02T10:00:00.000001Z"


def ship(client: TestClient, token: dict[str, str], request_id: str,
         lines: list[dict[str, Any]], status: int = 200) -> Any:
    answer = client.post(f"/agent/v1/deployments/{request_id}/runtime-logs", headers=token,
                         json={"lines": lines})
    assert answer.status_code == status, answer.text
    return answer.json()


TICKS = itertools.count(1)


def line(message: str, stream: str = "stdout", at: str | None = None) -> dict[str, Any]:
    """A line; by default each one a microsecond after the one before (the admin does not take
    a line older than the last one it took: one an agent ships again)."""
    stamp = at or f"2026-12-02T09:00:00.{next(TICKS):06d}Z"
    return {"stream": stream, "timestamp": stamp, "message": message}


def deployed(client: TestClient) -> tuple[Workflow, dict[str, str], str, str]:
    flow = Workflow(client)
    flow.configure()
    _, token = flow.node()
    deployment = flow.deploy()
    flow.report(token, deployment, "ready")
    return flow, token, deployment, flow.show(deployment)["deployment"]["requestId"]


def logs(client: TestClient, resource: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = get(client, f"/resources/{resource}/runtime-logs",
                                      **params)["logs"]
    return found


def test_read_by_tail_cursor_since_and_service(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, deployment, rid = deployed(client)
        resource = flow.resource
        assert get(client, f"/resources/{resource}/runtime-logs")["logs"] == []
        shipped = ship(client, token, rid, [
            line("hello", at=AT), line(f"key={SECRET} again {SECRET}", "stderr", at=AT),
            line("third", at="2026-12-02T11:00:00Z")])
        assert shipped["data"]["last_sequence"] == 3
        found = get(client, f"/resources/{resource}/runtime-logs")
        assert (found["resourceId"], found["deploymentId"]) == (resource, deployment)
        entries = found["logs"]
        assert [(e["sequence"], e["cursor"], e["stream"], e["message"], e["masked"])
                for e in entries] == [
            (1, "1", "stdout", "hello", False), (2, "2", "stderr", "key=**** again ****", True),
            (3, "3", "stdout", "third", False)]
        first = entries[0]
        assert (first["serviceName"], first["runtimeKind"], first["runtimeInstanceId"],
                first["timestamp"]) == ("web-app", "container", f"edge-{rid}",
                                        "2026-12-02T10:00:00.000001Z")
        assert [e["sequence"] for e in logs(client, resource, tailLines=2)] == [2, 3]
        assert [e["sequence"] for e in logs(client, resource, cursor="1")] == [2, 3]
        assert [e["sequence"] for e in logs(client, resource, cursor="1", tailLines=1)] == [2]
        assert logs(client, resource, tailLines=0) == []
        assert logs(client, resource, cursor="3") == []
        assert [e["sequence"] for e in logs(client, resource,
                                            since="2026-12-02T10:30:00+00:00")] == [3]
        assert logs(client, resource, serviceName="other") == []
        assert len(logs(client, resource, serviceName="web-app", deploymentId=deployment)) == 3


def test_follow_waits_for_the_next_line_and_streams_resume(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, _, rid = deployed(client)
        resource = flow.resource
        ship(client, token, rid, [line(f"line {i}") for i in range(3)])
        woke = later(0.3, lambda: ship(client, token, rid, [line("late")]))
        started = time.monotonic()
        followed = logs(client, resource, cursor="3", follow="true")
        woke.join()
        assert time.monotonic() - started < 5
        assert [(e["sequence"], e["message"]) for e in followed] == [(4, "late")]

        def frames(**kw: Any) -> list[tuple[str, dict[str, Any]]]:
            headers = {**AUTH, **kw.pop("headers", {})}
            with client.stream("GET", f"/resources/{resource}/runtime-logs/stream",
                               headers=headers, params={"follow": "false", **kw}) as answer:
                assert answer.status_code == 200, answer.read()
                assert answer.headers["content-type"].startswith("text/event-stream")
                text = answer.read().decode()
            found = []
            for block in text.split("\n\n"):
                fields = dict(ln.split(": ", 1) for ln in block.splitlines())
                if fields:
                    found.append((fields["id"], json.loads(fields["data"])))
            return found

        assert [i for i, _ in frames()] == ["1", "2", "3", "4"]
        assert [i for i, _ in frames(tailLines=2)] == ["3", "4"]
        assert [d["message"] for _, d in frames(cursor="2")] == ["line 2", "late"]
        assert [i for i, _ in frames(headers={"Last-Event-ID": "3"}, cursor="1")] == ["4"]
        # A blank header (a proxy's) names no event: the cursor counts, as without it.
        for blank in ("", " "):
            assert [i for i, _ in frames(headers={"Last-Event-ID": blank}, cursor="2")] == [
                "3", "4"]


def test_each_deployment_keeps_its_last_1000_lines(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, _, rid = deployed(client)
        for batch in range(3):
            ship(client, token, rid, [line(f"{batch}-{i}") for i in range(500)])
        kept = logs(client, flow.resource, tailLines=1000)
        assert [e["sequence"] for e in kept] == list(range(501, 1501))
        oldest = logs(client, flow.resource, cursor="0", tailLines=2)
        assert [e["message"] for e in oldest] == ["1-0", "1-1"]


def test_bad_input_is_a_4xx(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, deployment, rid = deployed(client)
        base = f"/resources/{flow.resource}/runtime-logs"
        for params in ({"tailLines": "1001"}, {"tailLines": "-1"}, {"tailLines": str(2**63)},
                       {"tailLines": "x"}, {"cursor": "abc"}, {"cursor": "-1"},
                       {"cursor": str(2**63)}, {"cursor": ""}, {"since": "yesterday"},
                       {"since": "2026-01-01T00:00:00"}, {"deploymentId": "nope"},
                       {"serviceName": ""}, {"follow": "maybe"}, {"unknown": "1"}):
            for path in (base, f"{base}/stream"):
                answer = client.get(path, headers=AUTH, params=params)
                assert answer.status_code == 400, (path, params, answer.text)
        stream = client.get(f"{base}/stream", headers={**AUTH, "Last-Event-ID": "x"})
        error(stream, 400, "bad_request")
        other = post(client, "/resources", {"projectId": flow.project,
                                            "environmentId": flow.environment,
                                            "name": "Other"}, 201)["id"]
        for path, params in ((f"/resources/{MISSING}/runtime-logs", {}),
                             (f"/resources/{other}/runtime-logs", {"deploymentId": deployment}),
                             (base, {"deploymentId": MISSING})):
            assert client.get(path, headers=AUTH, params=params).status_code == 404, path
        assert client.get(base).status_code == 401
        # the agent's side
        for request_id, status in (("000000000000", 404), ("nope", 404)):
            ship(client, token, request_id, [line("x")], status)
        for bad in ([line("x")] * 501, [line("x" * 8193)], [line("x", stream="stdin")],
                    [line("x", at="soon")], [{"stream": "stdout", "message": "x"}]):
            ship(client, token, rid, bad, 422)
        ship(client, token, rid, [line("nul \x00 inside")], 422)
        for after in ({"timestamp": "2026-12-02T10:00:00"}, {"stdout": -1}, {"stdin": 1}):
            answer = client.post(f"/agent/v1/deployments/{rid}/runtime-logs", headers=token,
                                 json={"lines": [line("x")], "after": after})
            assert answer.status_code == 422, (after, answer.text)
        assert logs(client, flow.resource) == []


def test_older_lines_shipped_again_are_not_taken_twice(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, _, rid = deployed(client)
        first = [line("a", at="2026-12-02T10:00:01Z"), line("b", at="2026-12-02T10:00:02Z")]
        ship(client, token, rid, first)
        # "a" again is older than the last line taken: dropped. "c" shares b's second (podman
        # stamps whole seconds) and comes after it: taken (it was dropped, a line lost).
        again = ship(client, token, rid, [first[0], line("c", at="2026-12-02T10:00:02Z"),
                                          line("d", at="2026-12-02T10:00:03Z")])
        assert again["data"]["last_sequence"] == 4
        assert [e["message"] for e in logs(client, flow.resource)] == ["a", "b", "c", "d"]


def test_old_agent_batch_sent_again_has_its_last_second_taken_twice(any_url: str) -> None:
    """An agent from before RuntimeLogMark says nothing of where its batch starts: a batch it
    sends again after its answer was lost is taken as before, its last second's lines twice
    (they cannot be told from lines written later in that second)."""
    with running(any_url) as client:
        flow, token, _, rid = deployed(client)
        batch = [line("a", at="2026-12-02T10:00:01Z"), line("b", at="2026-12-02T10:00:02Z")]
        ship(client, token, rid, batch)
        assert ship(client, token, rid, batch)["data"]["last_sequence"] == 3
        assert [e["message"] for e in logs(client, flow.resource)] == ["a", "b", "b"]


class ShippingAgent:
    """The agent's shipping rounds (entrypoints/agent/log_shipping.py) on one container of an
    engine that stamps whole seconds, each batch posted to the admin as the agent posts it."""

    def __init__(self, client: TestClient, token: dict[str, str], request_id: str) -> None:
        self.client, self.token, self.request_id = client, token, request_id
        self.engine = WholeSecondEngine()
        self.after: Cursor | None = None

    def round(self, answered: bool = True) -> None:
        """One round; not `answered`: the admin took the batch but its answer was lost, so
        the next round sends it again (from the same cursor)."""
        found = asyncio.run(new_lines(self.engine, self.after))
        body = RuntimeLogBatch(lines=[line for _, line in found], after=mark(self.after))
        for _ in range(1 if answered else 2):  # api.AdminApi sends once more at once, too
            answer = self.client.post(
                f"/agent/v1/deployments/{self.request_id}/runtime-logs", content=encode(body),
                headers={**self.token, "content-type": "application/json"})
            assert answer.status_code == 200, answer.text
        if answered:
            self.after = advanced(self.after, found)

    def restart(self) -> None:
        """Nothing is kept on disk: the next round ships the container's last lines again."""
        self.after = None


def test_a_batch_sent_again_after_its_answer_was_lost_is_taken_once(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, _, rid = deployed(client)
        agent = ShippingAgent(client, token, rid)
        second = int(datetime(2026, 12, 2, 10, tzinfo=UTC).timestamp())
        agent.engine.write("stdout", second, "a")
        agent.engine.write("stdout", second, "b")
        agent.round(answered=False)
        agent.engine.write("stdout", second, "c")  # the second of the lines sent again
        agent.engine.write("stderr", second, "x")
        agent.round(answered=False)
        agent.round()
        agent.engine.write("stdout", second + 1, "d")
        agent.round()
        agent.restart()  # ships a, b, c, x and d again, and e
        agent.engine.write("stderr", second + 1, "e")
        agent.round(answered=False)
        agent.round()
        assert [e["message"] for e in logs(client, flow.resource)] == [
            "a", "b", "c", "x", "d", "e"]
