"""A stop the agent already has does not answer its next work polls at once (application/
deployment_work.py StopsHandedOut): every answer still carries it, but the poll waits for
new work, so a deployment placed while the agent stops the one it replaces starts at once
instead of after the agent's quiet second."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from application.deployment_work import REPEAT_STOP_AFTER, StopsHandedOut
from tests.e2e.test_http_appaloft import Workflow
from tests.e2e.test_http_appaloft_watch import later
from tests.e2e.test_http_support import running

pytestmark = pytest.mark.e2e


def poll(flow: Workflow, token: dict[str, str], held: list[str], wait: float
         ) -> tuple[float, Any]:
    began = time.monotonic()
    answer = flow.client.post("/agent/v1/work", headers=token,
                              json={"deployments": held, "wait_seconds": wait})
    assert answer.status_code == 200, answer.text
    return time.monotonic() - began, answer.json()["data"]


def request_id(flow: Workflow, deployment: str) -> str:
    found: str = flow.show(deployment)["deployment"]["requestId"]
    return found


def test_a_stop_handed_out_wakes_no_poll_but_new_work_does(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        _, token = flow.node()
        first = flow.deploy()
        flow.report(token, first, "ready")
        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        flow.report(token, second, "ready")  # healthy: the first is asked to stop
        held = [request_id(flow, first), request_id(flow, second)]
        took, answer = poll(flow, token, held, 5)
        assert answer["stop_deployments"] == held[:1] and took < 2  # new to the agent
        took, answer = poll(flow, token, held, 1)
        assert answer["stop_deployments"] == held[:1] and took >= 0.9  # it has it: waits
        third = later(0.3, lambda: flow.deploy(f"/resources/{flow.resource}/redeploy", {}))
        took, answer = poll(flow, token, held, 10)
        third.join()
        assert len(answer["deployments"]) == 1 and took < 5, answer
        assert answer["stop_deployments"] == held[:1]


def test_stops_handed_out_are_fresh_again_after_a_while_or_when_new() -> None:
    stops = StopsHandedOut()
    node, other = uuid.uuid4(), uuid.uuid4()
    assert stops.fresh(node, ["a"], 100.0) and not stops.fresh(node, [], 100.0)
    stops.handed(node, ["a"], 100.0)
    assert not stops.fresh(node, ["a"], 100.0 + REPEAT_STOP_AFTER - 0.1)
    assert stops.fresh(node, ["a"], 100.0 + REPEAT_STOP_AFTER)
    assert stops.fresh(node, ["a", "b"], 101.0)  # b is new
    assert stops.fresh(other, ["a"], 101.0)  # per node
    stops.handed(node, [], 102.0)  # done: forgotten
    assert stops.fresh(node, ["a"], 102.0)
