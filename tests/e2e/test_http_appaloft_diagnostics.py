"""Appaloft's diagnostic summary of a resource (it answered 403 `resource-diagnostics` before):
the attempt in focus, its status and failure, the resource's health, the tails of its
deployment and runtime logs, and what is wrong, with no secret in it; on every store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_http_appaloft import SECRET, Workflow, configured, get, post
from tests.e2e.test_http_runtime_logs import line, ship
from tests.e2e.test_http_support import AUTH, MISSING, error, running

pytestmark = pytest.mark.e2e

TOP = {"schemaVersion", "generatedAt", "focus", "context", "deployment", "health", "access",
       "proxy", "deploymentLogs", "runtimeLogs", "system", "sourceErrors", "redaction", "copy"}


def summary(flow: Workflow, **params: Any) -> Any:
    return get(flow.client, f"/resources/{flow.resource}/diagnostic-summary", **params)


def test_a_failed_attempt_its_logs_and_what_is_wrong(any_url: str) -> None:
    with configured(any_url) as (flow, node, token):
        before = summary(flow)
        assert set(before) == TOP
        assert before["schemaVersion"] == "resources.diagnostic-summary/v1"
        assert before["deployment"] is None and before["focus"]["deploymentId"] is None
        assert [e["code"] for e in before["sourceErrors"]] == ["no-deployment"]
        assert before["runtimeLogs"]["status"] == "unavailable"
        assert before["health"]["overall"] == "not-deployed"

        first = flow.deploy()
        flow.report(token, first, "ready")
        request_id = flow.show(first)["deployment"]["requestId"]
        ship(flow.client, token, request_id,
             [line(f"line {n}") for n in range(30)] + [line(f"key is {SECRET}", "stderr")])
        healthy = summary(flow, tailLines=5)
        assert healthy["focus"] == {"resourceId": flow.resource, "requestedDeploymentId": None,
                                    "deploymentId": first}
        assert healthy["deployment"]["status"] == "succeeded"
        assert healthy["deployment"]["lastError"] is None
        assert healthy["deployment"]["sourceDisplayName"] == "busybox:1.36"
        assert healthy["context"]["serverId"] == node
        assert healthy["context"]["resourceSlug"] == "web-app"
        runtime = healthy["runtimeLogs"]
        assert (runtime["status"], runtime["tailLimit"], runtime["lineCount"]) == (
            "available", 5, 5)
        assert [x["message"] for x in runtime["lines"]][-2:] == ["line 29", "key is ****"]
        assert healthy["redaction"] == {"policy": "deployment-environment-secrets",
                                        "masked": True, "maskedValueCount": 1}
        assert healthy["sourceErrors"] == []
        assert healthy["deploymentLogs"]["lineCount"] == len(
            healthy["deploymentLogs"]["lines"]) <= 5
        assert healthy["deployment"]["logCount"] == len(
            get(flow.client, f"/deployments/{first}/logs")["logs"])

        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        flow.report(token, second, "error")
        failed = summary(flow, deploymentId=second, includeRuntimeLogTail="false", locale="de")
        assert failed["focus"]["requestedDeploymentId"] == second
        assert failed["deployment"]["status"] == "failed"
        assert failed["deployment"]["lastError"]["phase"] == "health"
        assert failed["runtimeLogs"]["status"] == "not-requested"
        assert failed["system"]["locale"] == "de"
        assert failed["system"]["databaseDriver"] in ("memory", "sqlite", "postgres")
        [wrong] = failed["sourceErrors"]
        assert (wrong["code"], wrong["phase"], wrong["relatedEntityId"], wrong["retryable"]) == (
            "deployment-failed", "health", second, True)
        assert any(x["level"] == "error" for x in failed["deploymentLogs"]["lines"])
        # the serving attempt is still the healthy one: it is the default focus
        assert summary(flow)["focus"]["deploymentId"] == first
        assert summary(flow, tailLines=0)["deploymentLogs"]["lines"] == []
        window = summary(flow, observationFrom="2999-01-01T00:00:00Z")
        assert window["runtimeLogs"]["lines"] == [] == window["deploymentLogs"]["lines"]
        assert window["context"]["observationWindow"]["from"].startswith("2999-01-01T00:00:00")
        # the window bounds the tails, not the attempt's logCount (it counted the window's)
        assert window["deployment"]["logCount"] == flow.show(first)["deployment"]["logCount"] > 0


def test_hostile_inputs() -> None:
    with running() as client:
        flow = Workflow(client)
        base = f"/resources/{flow.resource}/diagnostic-summary"
        error(client.get(f"/resources/{MISSING}/diagnostic-summary", headers=AUTH), 404,
              "not_found")
        error(client.get("/resources/nope/diagnostic-summary", headers=AUTH), 400,
              "bad_request")
        for params in ({"tailLines": "51"}, {"tailLines": "-1"}, {"deploymentId": "nope"},
                       {"observationFrom": "yesterday"}, {"unknown": "1"},
                       {"observationFrom": "2026-01-02T00:00:00Z",
                        "observationTo": "2026-01-01T00:00:00Z"},
                       {"observationTo": "2026-02-30T00:00:00Z"},
                       {"includeRuntimeLogTail": "maybe"}):
            error(client.get(base, headers=AUTH, params=params), 400, "bad_request")
        error(client.get(base, headers=AUTH, params={"deploymentId": MISSING}), 404,
              "not_found")
        post(client, f"/resources/{flow.resource}/archive", {})
        assert get(client, base)["context"]["resourceName"] == "Web App"
        deleted = client.request("DELETE", f"/resources/{flow.resource}", headers=AUTH,
                                 json={"confirmation": {"resourceSlug": "web-app"}})
        assert deleted.status_code in (200, 204), deleted.text
        error(client.get(base, headers=AUTH), 404, "not_found")
