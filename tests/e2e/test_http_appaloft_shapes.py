"""Appaloft's read shapes field for field with the seed (issue 17): recovery readiness's reasons
(recommendation, related ids, retriable), the plan's reasons and sections, the runtime plan of
a deployment's list item, a resource's source and runtime profile, and the seed's query
parameters these reads take. Each response is also checked against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_http_appaloft import SECRET, Workflow, configured, get, post
from tests.e2e.test_http_support import AUTH, MISSING, error, running

pytestmark = pytest.mark.e2e

RECOVERY_REASON = {"code", "category", "phase", "relatedDeploymentId", "relatedEntityId",
                   "relatedEntityType", "retriable", "recommendation"}
PLAN_REASON = {"code", "reasonCode", "category", "phase", "message", "recommendation",
               "evidence", "fixPath", "overridePath", "affectedProfileField", "relatedEntityId",
               "relatedEntityType"}


def test_recovery_reasons_name_what_blocks_and_whether_waiting_clears_it() -> None:
    with configured() as (flow, node, token):
        first = flow.deploy()
        flow.report(token, first, "ready")
        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        recovery = get(flow.client, f"/deployments/{second}/recovery-readiness")
        [reason] = recovery["retry"]["reasons"]
        assert set(reason) == RECOVERY_REASON
        assert reason == {
            "code": "attempt-not-terminal", "category": "blocked", "phase": "recovery",
            "relatedDeploymentId": second, "relatedEntityId": second,
            "relatedEntityType": "deployment", "retriable": True,
            "recommendation": "wait for it to end, or cancel it"}
        redeploy = recovery["redeploy"]["reasons"]
        assert [(r["code"], r["relatedDeploymentId"]) for r in redeploy] == [
            ("attempt-not-terminal", second)]
        assert recovery["stateVersion"] == str(int(recovery["stateVersion"]))
        [candidate] = recovery["rollback"]["candidates"]
        assert (candidate["deploymentId"], candidate["artifactSummary"],
                candidate["environmentSnapshotId"], candidate["runtimeTargetSummary"]) == (
            first, "busybox:1.36", first, f"node-{node}")
        assert flow.show(second)["nextActions"] == ["logs", "cancel"]
        flow.report(token, second, "error")
        assert flow.show(second)["nextActions"] == ["logs", "retry", "redeploy", "rollback"]
        post(flow.client, f"/environments/{flow.environment}/lock", {})
        locked = get(flow.client, f"/deployments/{second}/recovery-readiness",
                     resourceId=flow.resource)
        [reason] = locked["retry"]["reasons"]
        assert (reason["code"], reason["relatedEntityId"], reason["relatedEntityType"],
                reason["relatedDeploymentId"], reason["retriable"]) == (
            "environment-locked", flow.environment, "environment", None, False)
        assert [a["blockedReasonCode"] for a in locked["recommendedActions"]] == []
        error(flow.client.get(f"/deployments/{second}/recovery-readiness", headers=AUTH,
                              params={"resourceId": MISSING}), 404, "not_found")


def test_plan_reasons_say_what_clears_them_and_what_comes_next() -> None:
    with running() as client:
        flow = Workflow(client)
        plan = get(client, "/deployments/plan", **flow.context, includeAccessPlan="true",
                   includeCommandSpecs="false")
        reasons = {r["code"]: r for r in plan["unsupportedReasons"]}
        assert set(reasons) == {"resource-source-missing", "no-server-available"}
        missing = reasons["resource-source-missing"]
        assert set(missing) == PLAN_REASON
        assert (missing["reasonCode"], missing["affectedProfileField"],
                missing["relatedEntityId"], missing["relatedEntityType"]) == (
            "resource-source-missing", "source", flow.resource, "resource")
        assert [(f["kind"], f["targetOperation"], f["profileField"]) for f in
                missing["fixPath"]] == [("command", "resources.configure-source", "source")]
        nobody = reasons["no-server-available"]
        assert (nobody["relatedEntityId"], nobody["fixPath"]) == (None, [])
        assert [(a["targetOperation"], a["blockedReasonCode"]) for a in plan["nextActions"]] == [
            ("resources.configure-source", "resource-source-missing")]
        assert (plan["buildpack"], plan["access"], plan["dependencyBindings"]) == (
            None, None, None)
        assert plan["planner"]["targetProviderKey"] == "edge-agent"
        assert plan["source"]["detectedFiles"] == [] and plan["source"]["framework"] is None
        flow.configure()
        flow.node()
        ready = get(client, "/deployments/plan", **flow.context)
        assert ready["unsupportedReasons"] == []
        assert ready["artifact"]["image"] == "busybox:1.36"
        assert [(a["targetOperation"], a["blockedReasonCode"]) for a in ready["nextActions"]] == [
            ("deployments.create", None)]


def test_deployment_list_items_carry_the_runtime_plan_they_run() -> None:
    with configured() as (flow, node, _token):
        post(flow.client, f"/resources/{flow.resource}/runtime-profile",
             {"runtimeProfile": {"command": "httpd", "args": ["-f"]}})
        deployment = flow.deploy()
        [item] = get(flow.client, "/deployments", resourceId=flow.resource)["items"]
        assert item["id"] == deployment
        assert (item["sourceCommitSha"], item["dependencyBindingReferences"], item["logs"]) == (
            None, [], [])
        plan: dict[str, Any] = item["runtimePlan"]
        assert plan["id"] != item["environmentSnapshot"]["id"]  # each names its own thing
        assert plan["source"]["locator"] == "busybox:1.36"
        assert plan["runtimeArtifact"] == {"kind": "image", "intent": None,
                                           "image": "busybox:1.36", "composeFile": None,
                                           "metadata": {}}
        execution = plan["execution"]
        assert (execution["startCommand"], execution["args"], execution["port"],
                execution["healthCheckPath"]) == ("httpd", ["-f"], 8080, "/healthz")
        assert execution["healthCheck"]["http"]["expectedStatusCode"] == 200
        assert plan["target"]["serverIds"] == [node]
        shown = flow.show(deployment)
        assert shown["snapshot"]["environmentSnapshot"]["id"] == item["environmentSnapshot"]["id"]
        assert shown["snapshot"]["runtimePlan"] == plan
        assert shown["snapshot"]["dependencyBindings"] is None


def test_resource_source_and_runtime_profile_in_the_seed_shape() -> None:
    with running() as client:
        flow = Workflow(client)
        flow.configure()
        digest = "busybox@sha256:" + "a" * 64
        post(client, f"/resources/{flow.resource}/source", {"source": {"locator": digest}})
        shown = get(client, f"/resources/{flow.resource}", includeLatestDeployment="false",
                    includeAccessSummary="true", includeProfileDiagnostics="true")
        source = shown["source"]
        assert (source["imageName"], source["imageTag"], source["imageDigest"],
                source["displayName"], source["gitRef"], source["metadata"]) == (
            "busybox", None, "sha256:" + "a" * 64, digest, None, {})
        runtime = shown["runtimeProfile"]
        assert (runtime["runtimeName"], runtime["buildCommand"], runtime["healthCheckPath"]) == (
            "web-app", None, "/healthz")
        assert runtime["healthCheck"] == shown["healthPolicy"]
        assert shown["healthPolicy"]["http"]["expectedResponseText"] is None
        assert get(client, "/resources", includePreviewResources="false")["items"][0][
            "id"] == flow.resource


def test_one_secret_and_an_env_import(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        base = f"/resources/{flow.resource}"
        secret = get(client, f"{base}/secrets/API_KEY")
        assert secret["schemaVersion"] == "resources.secrets.show/v1"
        assert (secret["secret"]["key"], secret["secret"]["value"], secret["secret"]["kind"],
                secret["secret"]["resourceId"]) == ("API_KEY", "****", "secret", flow.resource)
        error(client.get(f"{base}/secrets/API_KEY", headers=AUTH,
                         params={"exposure": "build-time"}), 404, "not_found")
        assert client.post(f"{base}/variables", headers=AUTH,
                           json={"key": "MODE", "value": "dev"}).status_code == 204
        error(client.get(f"{base}/secrets/MODE", headers=AUTH), 404, "not_found")
        content = ("# pasted\nMODE=prod\nDB_PASSWORD='" + SECRET + "'\nexport PORT=8080\n"
                   "MODE=production\n")
        imported = post(client, f"{base}/variables/import", {"content": content})
        assert imported["resourceId"] == flow.resource
        assert [(e["key"], e["value"], e["isSecret"], e["action"], e["sourceLine"])
                for e in imported["importedEntries"]] == [
            ("DB_PASSWORD", "****", True, "created", 3), ("PORT", "8080", False, "created", 4),
            ("MODE", "production", False, "updated", 5)]
        assert imported["duplicateOverrides"] == [{"key": "MODE", "exposure": "runtime",
                                                   "firstLine": 2, "lastLine": 5,
                                                   "rule": "last-wins"}]
        assert [o["key"] for o in imported["existingOverrides"]] == ["MODE"]
        assert get(client, f"{base}/secrets/DB_PASSWORD")["secret"]["value"] == "****"
        config = get(client, f"{base}/effective-config")["effectiveEntries"]
        assert {e["key"]: e["value"] for e in config}["MODE"] == "production"
        refused = client.post(f"{base}/variables/import", headers=AUTH,
                              json={"content": "NEW=1\nnot a line"})
        assert "line 2" in error(refused, 422, "validation_failed", {"content"})["content"][0]
        assert "NEW" not in {e["key"] for e in get(client, f"{base}/effective-config")[
            "effectiveEntries"]}  # all or nothing
        post(client, f"/environments/{flow.environment}/lock", {})
        error(client.post(f"{base}/variables/import", headers=AUTH, json={"content": "A=1"}),
              409, "conflict")


def test_list_items_server_rollups_and_related_server_carry_the_seed_fields() -> None:
    with configured() as (flow, node, _token):
        deployment = flow.deploy()
        [item] = get(flow.client, "/resources")["items"]
        assert (item["accessProfile"], item["accessSummary"]) == (None, None)
        rollups = get(flow.client, f"/servers/{node}")["rollups"]
        assert rollups["domains"] == {"total": 0, "statusCounts": [],
                                      "latestDomainBindingId": None,
                                      "latestDomainBindingStatus": None}
        server = flow.show(deployment)["relatedContext"]["server"]
        assert server["id"] == node and server["host"].startswith(f"node-{node}")
        assert isinstance(server["port"], int)


def test_the_seed_query_parameters_of_the_counts() -> None:
    with configured() as (flow, _node, token):
        client = flow.client
        first = flow.deploy()
        flow.report(token, first, "ready")
        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        flow.report(token, second, "error")
        flow.deploy(f"/deployments/{second}/retry", {})

        def counted(**params: Any) -> int:
            number: int = get(client, "/deployments/count", **params)["count"]
            return number

        assert counted(statuses=["succeeded", "failed"]) == 2
        assert counted(statuses=["running"], status="failed") == 2
        assert counted(statuses="failed") == 1
        error(client.get("/deployments/count", headers=AUTH,
                         params={"statuses": ["failed", "nonsense"]}), 400, "bad_request")
        assert get(client, "/resources/count", includePreviewResources="true") == {"count": 1}


def test_an_environment_is_cloned_with_its_variables(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        env = f"/environments/{flow.environment}"
        for body in ({"key": "MODE", "value": "prod"},
                     {"key": "DB_PASSWORD", "value": SECRET, "isSecret": True}):
            assert client.post(f"{env}/variables", headers=AUTH, json=body).status_code == 204
        copy = post(client, f"{env}/clone", {"targetName": "staging"}, 201)["id"]
        shown = get(client, f"/environments/{copy}")
        assert (shown["name"], shown["projectId"], shown["kind"]) == (
            "staging", flow.project, "production")
        assert {v["key"]: v["value"] for v in shown["maskedVariables"]} == {
            "MODE": "prod", "DB_PASSWORD": "****"}
        error(client.post(f"{env}/clone", headers=AUTH, json={"targetName": "staging"}), 409,
              "conflict")
        error(client.post(f"{env}/clone", headers=AUTH, json={}), 422, "validation_failed",
              {"targetName"})
        post(client, f"{env}/lock", {})
        error(client.post(f"{env}/clone", headers=AUTH, json={"targetName": "qa"}), 409,
              "conflict")
        assert get(client, "/environments/count", projectId=flow.project) == {"count": 2}


def test_audit_export_for_one_aggregate_and_across_them() -> None:
    with running() as client:
        flow = Workflow(client)
        flow.configure()
        exported = get(client, "/audit-events/export", aggregateId=flow.resource, limit=2)
        assert exported["schemaVersion"] == "audit-events.export/v1"
        assert exported["aggregateId"] == flow.resource
        assert [i["eventType"] for i in exported["items"]] == [
            "edge.resource.created", "edge.resource.source_configured"]
        assert (exported["itemCount"], exported["truncated"]) == (2, True)
        assert exported["filters"] == {"eventType": None, "from": None, "to": None, "limit": 2}
        whole = get(client, "/audit-events/export", aggregateId=flow.resource)
        secret = whole["items"][-1]
        assert (secret["payload"]["key"], secret["redactedFields"]) == ("API_KEY", ["value"])
        assert not whole["truncated"]
        start = whole["items"][1]["createdAt"].replace("+00:00", "Z")
        later = get(client, "/audit-events/export", aggregateId=flow.resource,
                    **{"from": start})["items"]
        assert later == whole["items"][1:]  # two commands: two instants
        window = {"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00Z"}
        everything = get(client, "/audit-events/export-global", eventType="edge.project.created",
                         **window)
        assert everything["schemaVersion"] == "audit-events.export-global/v1"
        assert [i["aggregateId"] for i in everything["items"]] == [flow.project]
        assert everything["filters"]["aggregateId"] is None
        error(client.get("/audit-events/export-global", headers=AUTH), 400, "bad_request")
        error(client.get("/audit-events/export", headers=AUTH,
                         params={"from": "2026-01-01T00:00:00+02:00"}), 400, "bad_request")
        error(client.get("/audit-events/export", headers=AUTH,
                         params={"from": "2026-02-01T00:00Z", "to": "2026-01-01T00:00Z"}),
              400, "bad_request")
        error(client.get("/audit-events/export", headers=AUTH,
                         params={"eventType": "edge.nonsense"}), 400, "bad_request")


def test_a_server_connectivity_test_reads_its_agents_heartbeats() -> None:
    with running() as client:
        node, token = Workflow(client).node()
        path = f"/servers/{node}/connectivity-tests"
        tested = post(client, path)
        assert (tested["serverId"], tested["status"], tested["providerKey"]) == (
            node, "healthy", "edge-agent")
        assert [(c["name"], c["status"]) for c in tested["checks"]] == [
            ("agent-reachable", "passed"), ("agent-healthy", "passed")]
        beat = client.post("/agent/v1/heartbeat", headers=token, json={"status": "unhealthy"})
        assert beat.status_code == 200, beat.text
        degraded = post(client, path)
        assert degraded["status"] == "degraded"
        assert degraded["checks"][1]["metadata"]["nodeStatus"] == "unhealthy"
        assert degraded["checks"][0]["metadata"]["lastSeenAt"]
        error(client.post(f"/servers/{MISSING}/connectivity-tests", headers=AUTH), 404,
              "not_found")
        error(client.post("/servers/connectivity-tests", headers=AUTH, json={}), 403,
              "forbidden")


def test_a_source_that_needs_a_build_is_not_supported_rather_than_invalid() -> None:
    with running() as client:
        flow = Workflow(client)
        path = f"/resources/{flow.resource}/source"
        seed_example = {"source": {"kind": "local-folder", "locator": "./apps/web",
                                   "displayName": "Web console", "baseDirectory": ".",
                                   "metadata": {"framework": "sveltekit"}},
                        "idempotencyKey": "configure-source-res-web-console"}
        refused = client.post(path, headers=AUTH, json=seed_example)
        assert error(refused, 403, "forbidden", {"feature"}) == {"feature": ["builds"]}
        assert "nothing is built here" in refused.json()["error"]["message"]
        assert get(client, f"/resources/{flow.resource}")["source"]["locator"] is None
        error(client.post(path, headers=AUTH, json={"source": {
            "locator": "busybox:1.36", "baseDirectory": "."}}), 422, "validation_failed",
            {"source.baseDirectory"})
        post(client, path, {"source": {"kind": "docker-image", "locator": "busybox:1.36"}})
        assert get(client, f"/resources/{flow.resource}")["source"]["locator"] == "busybox:1.36"
