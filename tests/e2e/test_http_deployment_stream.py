"""POST /deployments/stream through HTTP on every store (issue 17): one response creates the
attempt and streams its events as /deployments/{id}/events/stream does, until it is terminal;
bad input answers 4xx before anything is created."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_appaloft import Workflow, get
from tests.e2e.test_http_appaloft_watch import later
from tests.e2e.test_http_support import AUTH, MISSING, error, running

pytestmark = pytest.mark.e2e


def streamed(client: TestClient, body: Any, **params: Any) -> tuple[str, list[Any]]:
    with client.stream("POST", "/deployments/stream", headers=AUTH, json=body,
                       params=params) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        location = answer.headers["location"]
        text = answer.read().decode()
    frames = []
    for block in text.split("\n\n"):
        fields = dict(ln.split(": ", 1) for ln in block.splitlines() if not ln.startswith(":"))
        if fields:
            frames.append((fields.get("event", "message"), json.loads(fields["data"])))
    return location, frames


def test_create_and_stream_until_terminal(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()

        def ready() -> None:
            [attempt] = get(client, "/deployments")["items"]
            flow.report(token, attempt["id"], "ready")

        woke = later(0.5, ready)
        location, frames = streamed(client, flow.context)
        woke.join()
        deployment = location.removeprefix("/deployments/")
        kinds = [(kind, data["event"]["eventType"] if kind == "message" else data["status"])
                 for kind, data in frames]
        assert kinds == [("message", "deployment-requested"), ("message", "deployment-placed"),
                         ("message", "deployment-ready"), ("end", "succeeded")], kinds
        assert all(d["event"]["deploymentId"] == deployment for k, d in frames
                   if k == "message")
        assert flow.status(deployment) == "succeeded"
        # the same frames as the events stream of that deployment
        with client.stream("GET", f"/deployments/{deployment}/events/stream", headers=AUTH,
                           params={"untilTerminal": "true"}) as again:
            text = again.read().decode()
        assert text.count("data: ") == len(frames)

        _, unfollowed = streamed(client, flow.context, follow="false")
        assert [d["event"]["eventType"] for _, d in unfollowed] == [
            "deployment-requested", "deployment-placed"]


def test_bad_input_creates_nothing(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        for params in ({"untilTerminal": "maybe"}, {"follow": "2"}, {"cursor": "1"}):
            answer = client.post("/deployments/stream", headers=AUTH, json=flow.context,
                                 params=params)
            assert answer.status_code == 400, (params, answer.text)
        error(client.post("/deployments/stream", headers=AUTH, json={"projectId": "x"}), 422,
              "validation_failed")
        answer = client.post("/deployments/stream", headers=AUTH,
                             json={**flow.context, "resourceId": MISSING})
        assert answer.status_code == 404, answer.text
        assert client.post("/deployments/stream", headers=AUTH, content=b"[").status_code == 400
        assert client.post("/deployments/stream", json=flow.context).status_code == 401
        post_lock = client.post(f"/environments/{flow.environment}/lock", headers=AUTH, json={})
        assert post_lock.status_code == 200, post_lock.text
        assert client.post("/deployments/stream", headers=AUTH,
                           json=flow.context).status_code == 409
        assert get(client, "/deployments/count") == {"count": 0}
