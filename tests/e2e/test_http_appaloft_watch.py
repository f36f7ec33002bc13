"""Watching an Appaloft deployment through HTTP (issue 17): its event envelopes by cursor, the
same as Server-Sent Events (resumed, woken by a commit, ended at a terminal status or when the
server stops), and its logs phase by phase with the container logs the agent sent."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_appaloft import configured, get
from tests.e2e.test_http_support import AUTH, MISSING, error

pytestmark = pytest.mark.e2e


def envelopes(client: TestClient, deployment: str, **params: Any) -> Any:
    return get(client, f"/deployments/{deployment}/events", **params)


def sequences(page: Any) -> list[int]:
    return [e["event"]["sequence"] for e in page["envelopes"]]


def sse(client: TestClient, deployment: str, headers: dict[str, str] | None = None,
        **params: Any) -> list[dict[str, Any]]:
    """The frames of a stream that ends, each as {id, event, data}."""
    with client.stream("GET", f"/deployments/{deployment}/events/stream",
                       headers={**AUTH, **(headers or {})}, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    frames = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if not line.startswith(":"))
        if fields:
            frames.append({"id": fields.get("id"), "event": fields.get("event", "message"),
                           "data": json.loads(fields["data"])})
    return frames


def later(seconds: float, action: Any) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_events_page_by_cursor_and_follow_until_terminal(any_url: str) -> None:
    with configured(any_url) as (flow, _, token):
        client = flow.client
        first = flow.deploy()
        page = envelopes(client, first)
        assert [e["event"]["eventType"] for e in page["envelopes"]] == [
            "deployment-requested", "deployment-placed"]
        assert all(e["schemaVersion"] == "deployments.stream-events/v1" and e["kind"] == "event"
                   for e in page["envelopes"])
        placed = page["envelopes"][-1]["event"]
        assert (placed["phase"], placed["status"], placed["retriable"]) == (
            "pull", "running", False)
        assert page["nextCursor"] == placed["cursor"] == str(placed["sequence"])
        # follow: an empty page waits, and a commit wakes it
        woke = later(0.3, lambda: flow.report(token, first, "ready"))
        started = time.monotonic()
        followed = envelopes(client, first, cursor=page["nextCursor"], follow="true")
        woke.join()
        assert time.monotonic() - started < 5
        ready = followed["envelopes"][0]["event"]
        assert (ready["eventType"], ready["phase"], ready["status"]) == (
            "deployment-ready", "health", "succeeded")
        everything = sequences(envelopes(client, first))
        assert len(everything) == 3 and everything == sorted(everything)
        # resume page by page with historyLimit
        cursor, resumed = "0", []
        for _ in range(3):
            one = envelopes(client, first, cursor=cursor, historyLimit=1)
            resumed += sequences(one)
            cursor = one["nextCursor"]
        assert resumed == everything
        assert envelopes(client, first, cursor=cursor) == {
            "deploymentId": first, "envelopes": [], "nextCursor": cursor}
        assert envelopes(client, first, includeHistory="false")["nextCursor"] == cursor
        assert envelopes(client, first, historyLimit=0)["envelopes"] == []
        started = time.monotonic()  # terminal: untilTerminal answers at once
        done = envelopes(client, first, cursor=cursor, follow="true", untilTerminal="true")
        assert done["envelopes"] == [] and time.monotonic() - started < 2


def test_events_refuse_bad_cursors_and_limits() -> None:
    with configured() as (flow, _, _):
        client = flow.client
        deployment = flow.deploy()
        path = f"/deployments/{deployment}/events"
        for params, field in [
            ({"cursor": "abc"}, "cursor"), ({"cursor": "-1"}, "cursor"),
            ({"cursor": ""}, "cursor"), ({"cursor": "1" * 20}, "cursor"),
            ({"cursor": str(2**63)}, "cursor"), ({"historyLimit": "201"}, "historyLimit"),
            ({"historyLimit": "-1"}, "historyLimit"), ({"follow": "maybe"}, "follow"),
            ({"after": "1"}, "after"),
        ]:
            for route in (path, f"{path}/stream"):
                error(client.get(route, headers=AUTH, params=params), 400, "bad_request",
                      {field})
        assert sequences(envelopes(client, deployment, cursor=str(2**63 - 1),
                                   historyLimit=200)) == []
        assert len(sequences(envelopes(client, deployment, cursor="0"))) == 2
        stream = client.get(f"{path}/stream", headers={**AUTH, "Last-Event-ID": "x"})
        error(stream, 400, "bad_request", {"Last-Event-ID"})
        for route in ("events", "events/stream", "logs"):
            error(client.get(f"/deployments/{MISSING}/{route}", headers=AUTH), 404,
                  "not_found")
        error(client.get(f"/deployments/{deployment}/logs", headers=AUTH,
                         params={"cursor": "1"}), 400, "bad_request", {"cursor"})


def test_stream_resumes_by_cursor_and_ends_at_terminal_or_stop(any_url: str) -> None:
    with configured(any_url) as (flow, _, token):
        client = flow.client
        first = flow.deploy()
        page = sse(client, first, follow="false")
        assert [f["data"]["event"]["eventType"] for f in page] == [
            "deployment-requested", "deployment-placed"]
        assert [f["id"] for f in page] == [f["data"]["event"]["cursor"] for f in page]
        # A blank Last-Event-ID (a proxy's) names no event: as without the header.
        for blank in ("", " "):
            assert sse(client, first, headers={"Last-Event-ID": blank}, follow="false",
                       cursor=page[0]["id"]) == page[1:]
        # following until terminal: the report's commit wakes it, then `end`
        woke = later(0.3, lambda: flow.report(token, first, "ready"))
        frames = sse(client, first, headers={"Last-Event-ID": page[-1]["id"]},
                     untilTerminal="true")
        woke.join()
        assert [f["event"] for f in frames] == ["message", "end"]
        assert frames[0]["data"]["event"]["eventType"] == "deployment-ready"
        assert frames[1]["data"] == {"schemaVersion": "deployments.stream-events/v1",
                                     "kind": "end", "deploymentId": first,
                                     "status": "succeeded", "cursor": frames[0]["id"]}
        resumed = sse(client, first, cursor=page[0]["id"], untilTerminal="true")
        assert [f["id"] for f in resumed[:-1]] == [page[1]["id"], frames[0]["id"]]
        assert sse(client, first, includeHistory="false", follow="false") == []
        # a stopping server ends a stream that would follow forever
        app: Any = client.app
        later(0.3, app.state.stopping.set)
        started = time.monotonic()
        tail = sse(client, first, cursor=frames[0]["id"])
        assert tail == [] and time.monotonic() - started < 5


def test_logs_show_each_phase_and_the_container_logs(any_url: str) -> None:
    with configured(any_url) as (flow, _, token):
        client = flow.client
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        sent = client.post(f"/agent/v1/deployments/{request_id}/telemetry", headers=token,
                           json={"logs": "listening on 8080\nGET /healthz 200\n"})
        assert sent.status_code == 200, sent.text
        flow.report(token, first, "ready")
        logs = get(client, f"/deployments/{first}/logs")
        assert logs["deploymentId"] == first
        rows = [(e["source"], e["phase"], e["level"]) for e in logs["logs"]]
        assert rows[:2] == [("edge-admin", "plan", "info"), ("edge-admin", "pull", "info")]
        assert ("edge-agent", "health", "info") in rows
        lines = [e["message"] for e in logs["logs"] if e["source"] == "container"]
        assert lines == ["listening on 8080", "GET /healthz 200"]
        stamps = [e["timestamp"] for e in logs["logs"]]
        assert stamps == sorted(stamps) and not any(e["masked"] for e in logs["logs"])
        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        request_id = flow.show(second)["deployment"]["requestId"]
        crash = client.post(f"/agent/v1/deployments/{request_id}/telemetry", headers=token,
                            json={"logs": "boom\n", "crashed": True, "exit_code": 3})
        assert crash.status_code == 200, crash.text
        flow.report(token, second, "error")
        failed = get(client, f"/deployments/{second}/logs")["logs"]
        errors = [(e["source"], e["phase"], e["message"]) for e in failed
                  if e["level"] == "error"]
        assert ("edge-agent", "health", "health check failed: 503") in errors
        assert ("container", "health", "boom") in errors
        events = envelopes(client, second)["envelopes"]
        assert (events[-1]["event"]["phase"], events[-1]["event"]["retriable"]) == (
            "health", True)


def test_telemetry_is_kept_for_the_node_the_deployment_is_on(any_url: str) -> None:
    """The agent's telemetry (a log tail and a resource sample) is taken on the event loop on
    PostgreSQL and in a worker thread elsewhere; either way only from the deployment's node."""
    with configured(any_url) as (flow, _, token):
        client = flow.client
        deployment = flow.deploy()
        request_id = flow.show(deployment)["deployment"]["requestId"]
        _, stranger = flow.node()
        body = {"logs": "up\n", "sample": {"cpu_percent": 12.5, "memory_bytes": 4096}}
        for who, path in ((stranger, request_id), (token, "0123456789ab")):
            refused = client.post(f"/agent/v1/deployments/{path}/telemetry", headers=who,
                                  json=body)
            error(refused, 404, "not_found")
        sent = client.post(f"/agent/v1/deployments/{request_id}/telemetry", headers=token,
                           json=body)
        assert sent.status_code == 200, sent.text
        assert sent.json()["data"]["request_id"] == request_id
        metrics = client.get(f"/v1/metrics/deployment/{request_id}", headers=AUTH,
                             params={"raw": "true"})
        assert metrics.status_code == 200, metrics.text
        assert "12.5" in metrics.text and "4096" in metrics.text
        logs = get(client, f"/deployments/{deployment}/logs")["logs"]
        assert [e["message"] for e in logs if e["source"] == "container"] == ["up"]
