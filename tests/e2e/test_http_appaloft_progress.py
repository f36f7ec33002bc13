"""An attempt's start as it happens (issue 17): the agent's progress lines (pull, start, each
health probe) through the agent route, shown by GET /deployments/{id}/logs while the attempt
runs, in order before its ready report, and by its events stream between the events; bounded
per deployment; refused when malformed or from another node."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.test_http_appaloft import Workflow, get
from tests.e2e.test_http_appaloft_watch import envelopes, later, sse
from tests.e2e.test_http_support import error, fixed_clock, running
from tests.e2e.test_stream_looks import frames

pytestmark = pytest.mark.e2e


def say(flow: Workflow, token: dict[str, str], request_id: str, phase: str,
        message: str) -> Any:
    sent = flow.client.post(f"/agent/v1/deployments/{request_id}/progress", headers=token,
                            json={"phase": phase, "message": message})
    assert sent.status_code == 200, sent.text
    return sent.json()["data"]


def test_logs_show_the_agents_progress_while_it_runs_then_its_ready(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        lines = [("pull", "image busybox is on this node already"),
                 ("start", "container started"),
                 ("health", "probe 1 failed: connection refused"),
                 ("health", "probe 2 passed 0.05s after the first; healthy")]
        for phase, message in lines:
            assert say(flow, token, request_id, phase, message) == {
                "request_id": request_id, "recorded": True}
        assert flow.status(first) == "running"
        logs = get(client, f"/deployments/{first}/logs")["logs"]
        assert [(e["source"], e["phase"], e["message"]) for e in logs[2:]] == [
            ("edge-agent", phase, message) for phase, message in lines]
        flow.report(token, first, "ready")
        logs = get(client, f"/deployments/{first}/logs")["logs"]
        rows = [(e["source"], e["phase"], e["level"]) for e in logs]
        assert rows[:2] == [("edge-admin", "plan", "info"), ("edge-admin", "pull", "info")]
        assert [e["message"] for e in logs[2:6]] == [m for _, m in lines]
        # The ready report is one line now that the progress told the start.
        assert logs[6]["phase"] == "health" and logs[6]["message"].startswith("ready: ")
        assert len(logs) == 7
        stamps = [e["timestamp"] for e in logs]
        assert stamps == sorted(stamps)


def test_progress_is_bounded_and_checked(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        url = f"/agent/v1/deployments/{request_id}/progress"
        for bad in ({"phase": "stop", "message": "x"}, {"phase": "pull", "message": ""},
                    {"phase": "pull"}, {"phase": "pull", "message": "x" * 1025},
                    {"phase": "pull", "message": "a\x00b"}, {"phase": "pull", "message": "x",
                                                              "level": "debug"},
                    {"phase": "pull", "message": "x", "extra": 1}):
            error(client.post(url, headers=token, json=bad), 422, "validation_failed")
        _, other = flow.node()  # another node's agent
        good = {"phase": "pull", "message": "x"}
        error(client.post(url, headers=other, json=good), 404, "not_found")
        error(client.post("/agent/v1/deployments/ffffffffffff/progress", headers=token,
                          json={"phase": "pull", "message": "x"}), 404, "not_found")
        recorded = [say(flow, token, request_id, "health", f"probe {n} failed")["recorded"]
                    for n in range(66)]
        assert recorded == [True] * 64 + [False] * 2
        logs = get(client, f"/deployments/{first}/logs")["logs"]
        said = [e["message"] for e in logs if e["source"] == "edge-agent"]
        assert said == [f"probe {n} failed" for n in range(64)]


def test_the_events_stream_carries_progress_between_the_events(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        say(flow, token, request_id, "start", "container started")
        # Followed: a line sent meanwhile comes as it is recorded (polled), then the ready.
        woke = later(0.3, lambda: say(flow, token, request_id, "health", "probe 1 passed"))
        ready = later(0.8, lambda: flow.report(token, first, "ready"))
        frames = sse(client, first, untilTerminal="true")
        woke.join()
        ready.join()
        assert [(f["id"], f["event"]) for f in frames] == [
            ("1", "message"), ("2", "message"), (None, "progress"), (None, "progress"),
            ("3", "message"), (None, "end")]
        progress = [f["data"] for f in frames if f["event"] == "progress"]
        assert [(p["kind"], p["progress"]["phase"], p["progress"]["message"]) for p in progress
                ] == [("progress", "start", "container started"),
                      ("progress", "health", "probe 1 passed")]
        assert progress[0]["schemaVersion"] == "deployments.stream-events/v1"
        assert progress[0]["progress"]["source"] == "edge-agent"
        assert progress[0]["progress"]["deploymentId"] == first
        stamps = [f["data"].get("event", f["data"].get("progress", {})).get("emittedAt")
                  for f in frames[:-1]]
        assert stamps == sorted(stamps)
        # Resumed after the placement: its lines again; after the ready: none.
        resumed = sse(client, first, headers={"Last-Event-ID": "2"}, untilTerminal="true")
        assert [f["event"] for f in resumed] == ["progress", "progress", "message", "end"]
        after = sse(client, first, cursor="3", untilTerminal="true")
        assert [f["event"] for f in after] == ["end"]
        quiet = sse(client, first, untilTerminal="true", includeProgress="false")
        assert [f["event"] for f in quiet] == ["message"] * 3 + ["end"]
        # The page of events stays lifecycle events only.
        page = envelopes(client, first)["envelopes"]
        assert [e["kind"] for e in page] == ["event"] * 3


def test_a_line_stamped_before_the_last_one_sent_still_reaches_an_open_stream(
    any_url: str,
) -> None:
    """A progress line stamped earlier than the last one an open stream had sent (taken by an
    admin whose clock is behind, or stamped before another admin's line and committed after
    it) never reached the stream, which followed the lines by their time. It comes, once."""
    clock = fixed_clock()
    with running(any_url, clock=clock) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        clock.advance(10)
        say(flow, token, request_id, "pull", "pulled")

        def shown(frame: dict[str, str]) -> str:
            data = json.loads(frame["data"])
            return str(data["progress"]["message"] if "progress" in data
                       else data.get("event", data)["eventType" if "event" in data else "kind"])

        with frames(client, f"/deployments/{first}/events/stream", {},
                    untilTerminal="true") as stream:
            sent = [shown(next(stream)) for _ in range(3)]
            assert sent == ["deployment-requested", "deployment-placed", "pulled"]
            clock.current -= timedelta(seconds=5)  # the next admin's clock is behind
            say(flow, token, request_id, "start", "started, stamped earlier")
            sent.append(shown(next(stream)))
            clock.advance(20)
            flow.report(token, first, "ready")
            sent += [shown(frame) for frame in stream]
        assert sent == ["deployment-requested", "deployment-placed", "pulled",
                        "started, stamped earlier", "deployment-ready", "end"]
