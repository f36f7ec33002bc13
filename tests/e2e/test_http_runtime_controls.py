"""A resource's runtime stop, start and restart through HTTP on every store (issue 17), with
a fake agent speaking the work-poll protocol: what the admin asks it to pause and resume, the
phases its word completes, blocked and refused requests, and bad input answered 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from entrypoints.workers.scheduler import schedule_once
from tests.e2e.test_http_appaloft import Workflow, get, post
from tests.e2e.test_http_support import AUTH, MISSING, error, fixed_clock, running, services_of

pytestmark = pytest.mark.e2e


def poll(client: TestClient, token: dict[str, str], held: list[str],
         stopped: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"wait_seconds": 0, "deployments": held}
    if stopped is not None:
        body["stopped"] = stopped
    answer = client.post("/agent/v1/work", headers=token, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def served(client: TestClient) -> tuple[Workflow, dict[str, str], str, str]:
    """A resource with a succeeded deployment on a node: the flow, the node's token, the
    deployment id and its request id."""
    flow = Workflow(client)
    flow.configure()
    _, token = flow.node()
    deployment = flow.deploy()
    flow.report(token, deployment, "ready")
    assert flow.status(deployment) == "succeeded"
    return flow, token, deployment, flow.show(deployment)["deployment"]["requestId"]


def control(client: TestClient, resource: str, operation: str) -> dict[str, Any]:
    found: dict[str, Any] = post(client, f"/resources/{resource}/runtime/{operation}", {})
    return found


def shown(client: TestClient, resource: str, attempt: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = get(
        client, f"/resources/{resource}/runtime-controls/{attempt['runtimeControlAttemptId']}")
    return found


def test_stop_start_restart_follow_the_agents_word(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, deployment, rid = served(client)
        resource = flow.resource
        stop = control(client, resource, "stop")
        assert {k: stop[k] for k in ("operation", "status", "runtimeState", "blockedReason",
                                     "deploymentId", "completedAt")} == {
            "operation": "stop", "status": "accepted", "runtimeState": "stopping",
            "blockedReason": None, "deploymentId": deployment, "completedAt": None}
        assert stop["phases"] == [{"phase": "stop", "status": "pending", "errorCode": None}]
        # an agent that cannot pause is never asked to
        assert poll(client, token, [rid], None)["pause_deployments"] == []
        assert poll(client, token, [rid], [])["pause_deployments"] == [rid]
        assert control(client, resource, "start")["blockedReason"] == (
            "runtime-control-in-progress")
        answer = poll(client, token, [rid], [rid])
        assert (answer["pause_deployments"], answer["resume_deployments"]) == ([], [])
        done = shown(client, resource, stop)
        assert (done["status"], done["runtimeState"], done["phases"][0]["status"]) == (
            "succeeded", "stopped", "succeeded")
        assert done["completedAt"] is not None
        # its own reconciliation never starts it again, and the deployment stays succeeded
        assert poll(client, token, [rid], [rid])["resume_deployments"] == []
        assert flow.status(deployment) == "succeeded"
        again = control(client, resource, "stop")  # already stopped: done at once
        assert (again["status"], again["runtimeState"]) == ("succeeded", "stopped")
        # The agent's probes of the stopped container fail: that is no unhealthy resource.
        health_url = f"/agent/v1/deployments/{rid}/health"
        assert client.post(health_url, headers=token, json={
            "kind": "change", "lifecycle": "running", "health": "unhealthy"}).status_code == 200
        stopped = get(client, f"/resources/{resource}/health")
        assert (stopped["overall"], stopped["runtime"]["lifecycle"],
                stopped["runtime"]["reasonCode"]) == ("stopped", "stopped", "runtime-stopped")

        start = control(client, resource, "start")
        assert poll(client, token, [rid], [rid])["resume_deployments"] == [rid]
        poll(client, token, [rid], [])
        assert shown(client, resource, start)["status"] == "succeeded"

        restart = control(client, resource, "restart")
        assert poll(client, token, [rid], [])["pause_deployments"] == [rid]
        assert poll(client, token, [rid], [rid])["resume_deployments"] == [rid]
        middle = shown(client, resource, restart)
        assert (middle["status"], middle["runtimeState"]) == ("running", "starting")
        poll(client, token, [rid], [])
        ended = shown(client, resource, restart)
        assert (ended["status"], ended["runtimeState"]) == ("succeeded", "running")
        assert [(p["phase"], p["status"]) for p in ended["phases"]] == [
            ("stop", "succeeded"), ("start", "succeeded")]

        listed = get(client, f"/resources/{resource}/runtime-controls", limit=2)["items"]
        assert [i["operation"] for i in listed] == ["restart", "start"]
        [item] = get(client, "/resources")["items"]
        assert item["latestRuntimeControl"] == ended
        assert get(client, f"/resources/{resource}/health")["latestRuntimeControl"] == ended
        audit = [i["eventType"] for i in get(client, "/audit-events", aggregateId=resource,
                                             limit=100)["items"]]
        assert audit.count("edge.resource.runtime_control_requested") == 5, audit


def test_a_deployment_that_ends_fails_its_control(any_url: str) -> None:
    with running(any_url) as client:
        flow, token, deployment, _ = served(client)
        stop = control(client, flow.resource, "stop")
        flow.report(token, deployment, "error")
        failed = shown(client, flow.resource, stop)
        assert (failed["status"], failed["errorCode"], failed["runtimeState"]) == (
            "failed", "runtime-ended", "unknown")
        assert failed["phases"] == [
            {"phase": "stop", "status": "failed", "errorCode": "runtime-ended"}]
        blocked = control(client, flow.resource, "start")
        assert (blocked["status"], blocked["blockedReason"], blocked["deploymentId"]) == (
            "blocked", "runtime-not-found", None)


def test_blocked_and_refused_controls(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        assert get(client, "/resources")["items"][0]["latestRuntimeControl"] is None
        blocked = control(client, flow.resource, "restart")
        assert (blocked["status"], blocked["blockedReason"]) == ("blocked", "runtime-not-found")
        assert blocked["completedAt"] == blocked["startedAt"]
        assert [p["status"] for p in blocked["phases"]] == ["skipped", "skipped"]
        post(client, f"/resources/{flow.resource}/archive", {})
        archived = control(client, flow.resource, "stop")
        assert archived["blockedReason"] == "resource-archived"
        post(client, f"/environments/{flow.environment}/lock", {})
        error(client.post(f"/resources/{flow.resource}/runtime/stop", headers=AUTH, json={}),
              409, "conflict")
        audit = [i["eventType"] for i in get(client, "/audit-events",
                                             aggregateId=flow.resource)["items"]]
        assert audit.count("edge.resource.runtime_control_requested") == 2, audit


def test_bad_input_is_a_4xx(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        base = f"/resources/{flow.resource}"
        for path, status in ((f"/resources/{MISSING}/runtime/stop", 404),
                             ("/resources/not-a-uuid/runtime/start", 400),
                             ("/resources/%00/runtime/restart", 400)):
            assert client.post(path, headers=AUTH, json={}).status_code == status, path
        assert client.post(f"{base}/runtime/stop", headers=AUTH,
                           json={"force": True}).status_code == 422
        for body in (b"[]", b"{", b"\xff\xfe", b'"x"'):
            answer = client.post(f"{base}/runtime/stop", headers=AUTH, content=body)
            assert answer.status_code == 400, (body, answer.text)
        for limit in ("0", "501", str(2**63), "-1", "x"):
            answer = client.get(f"{base}/runtime-controls", headers=AUTH,
                                params={"limit": limit})
            assert answer.status_code == 400, (limit, answer.text)
        assert client.get(f"/resources/{MISSING}/runtime-controls",
                          headers=AUTH).status_code == 404
        assert client.get(f"{base}/runtime-controls/{MISSING}", headers=AUTH).status_code == 404
        other = post(client, "/resources", {"projectId": flow.project,
                                            "environmentId": flow.environment,
                                            "name": "Other"}, 201)["id"]
        theirs = control(client, other, "stop")
        assert client.get(f"{base}/runtime-controls/{theirs['runtimeControlAttemptId']}",
                          headers=AUTH).status_code == 404
        assert client.post(f"{base}/runtime/stop").status_code == 401


def test_a_control_no_agent_carries_out_fails_after_the_start_deadline(any_url: str) -> None:
    clock = fixed_clock()
    with running(any_url, clock=clock) as client:
        flow, _, deployment, _ = served(client)
        svc = services_of(client)
        stop = control(client, flow.resource, "stop")
        clock.advance(svc.settings.deployment_start_deadline - 1)
        schedule_once(svc)
        assert shown(client, flow.resource, stop)["status"] == "accepted"
        clock.advance(2)
        schedule_once(svc)
        failed = shown(client, flow.resource, stop)
        assert (failed["status"], failed["errorCode"], failed["phases"]) == (
            "failed", "runtime-control-timeout", [{"phase": "stop", "status": "failed",
                                                  "errorCode": "runtime-control-timeout"}])
        assert flow.status(deployment) == "succeeded"
        # the next control is not blocked by it
        assert control(client, flow.resource, "start")["status"] == "accepted"
