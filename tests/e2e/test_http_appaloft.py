"""Appaloft's resource workflow through HTTP (issue 17): projects, environments, variables,
resources, servers, the plan, deployments with their recovery, and the audit, with the agent's
reports played through its own routes. Secrets never come back, not even sealed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    enroll,
    error,
    issue_key,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e

SECRET = "hunter2-never-shown"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert SECRET not in response.text
    return response.json()


def post(client: TestClient, path: str, body: Any = None, status: int = 200) -> Any:
    return ok(client.post(path, headers=AUTH, json=body if body is not None else {}), status)


def get(client: TestClient, path: str, **params: Any) -> Any:
    return ok(client.get(path, headers=AUTH, params=params))


class Workflow:
    """A project, an environment and a resource ready to deploy, and one healthy node."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.project = post(client, "/projects", {"name": "Shop"}, 201)["id"]
        self.environment = post(client, "/environments", {
            "projectId": self.project, "name": "production", "kind": "production"}, 201)["id"]
        self.resource = post(client, "/resources", {
            "projectId": self.project, "environmentId": self.environment, "name": "Web App"},
            201)["id"]
        self.context = {"projectId": self.project, "environmentId": self.environment,
                        "resourceId": self.resource}

    def configure(self) -> None:
        base = f"/resources/{self.resource}"
        post(self.client, f"{base}/source", {"source": {"locator": "busybox:1.36"}})
        post(self.client, f"{base}/network-profile", {"networkProfile": {"internalPort": 8080}})
        post(self.client, f"{base}/health-policy", {"healthCheck": {
            "type": "http", "http": {"path": "/healthz", "expectedStatusCode": 200}}})
        post(self.client, f"{base}/secrets", {"key": "API_KEY", "value": SECRET})

    def node(self) -> tuple[str, dict[str, str]]:
        enrolled = enroll(self.client, issue_key(self.client)["key"])
        node, token = enrolled["node_id"], {"Authorization": f"Bearer {enrolled['api_token']}"}
        host = self.client.patch(f"/api/v1/nodes/{node}/host", headers=AUTH,
                                 json={"cpu_units": 4096, "memory_mb": 4096})
        assert host.status_code == 200, host.text
        return str(node), token

    def deploy(self, path: str = "/deployments", body: Any = None) -> str:
        deployment: str = post(self.client, path, body if body is not None else self.context,
                               201)["id"]
        return deployment

    def report(self, token: dict[str, str], deployment: str, state: str) -> None:
        request_id = self.show(deployment)["deployment"]["requestId"]
        sent = self.client.post(f"/agent/v1/deployments/{request_id}/report", headers=token,
                                json={"state": state, "detail": "health check failed: 503"
                                      if state == "error" else ""})
        assert sent.status_code == 200, sent.text

    def show(self, deployment: str) -> Any:
        return get(self.client, f"/deployments/{deployment}")

    def status(self, deployment: str) -> str:
        status: str = self.show(deployment)["deployment"]["status"]
        return status


@contextmanager
def configured(url: str = "memory://", /, **overrides: Any
               ) -> Iterator[tuple[Workflow, str, dict[str, str]]]:
    """The app with a resource ready to deploy and one node with room for it:
    (the workflow, the node's id, the node's agent credentials)."""
    with running(url, **overrides) as client:
        flow = Workflow(client)
        flow.configure()
        yield (flow, *flow.node())


def test_projects_create_list_show_change_archive_delete() -> None:
    with running() as client:
        project = post(client, "/projects", {"name": "My Shop"}, 201)["id"]
        assert get(client, "/projects/count") == {"count": 1}
        [item] = get(client, "/projects")["items"]
        assert (item["id"], item["slug"], item["lifecycleStatus"]) == (project, "my-shop",
                                                                      "active")
        post(client, f"/projects/{project}/rename", {"name": "Our Shop"})
        post(client, f"/projects/{project}/description", {"description": "sells things"})
        shown = get(client, f"/projects/{project}")
        assert (shown["name"], shown["slug"], shown["description"]) == (
            "Our Shop", "my-shop", "sells things")
        check = get(client, f"/projects/{project}/delete-check")
        assert check["schemaVersion"] == "projects.delete-check/v1" and not check["eligible"]
        assert [b["kind"] for b in check["blockers"]] == ["active-project"]
        confirm = {"confirmation": {"projectId": project}}
        refused = client.request("DELETE", f"/projects/{project}", headers=AUTH, json=confirm)
        error(refused, 409, "conflict")
        post(client, f"/projects/{project}/archive", {"reason": "done"})
        assert get(client, f"/projects/{project}/delete-check")["eligible"]
        post(client, f"/projects/{project}/restore")
        assert get(client, f"/projects/{project}")["lifecycleStatus"] == "active"
        post(client, f"/projects/{project}/archive")
        wrong = client.request("DELETE", f"/projects/{project}", headers=AUTH,
                               json={"confirmation": {"projectId": MISSING}})
        error(wrong, 422, "validation_failed", {"confirmation.projectId"})
        gone = client.request("DELETE", f"/projects/{project}", headers=AUTH, json=confirm)
        assert ok(gone) == {"id": project}
        error(client.get(f"/projects/{project}", headers=AUTH), 404, "not_found")
        again = post(client, "/projects", {"name": "My Shop"}, 201)["id"]  # the slug is free
        assert again != project and get(client, "/projects/count") == {"count": 1}


def test_environment_variables_are_masked_and_a_lock_refuses_changes(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        env = f"/environments/{flow.environment}"
        assert client.post(f"{env}/variables", headers=AUTH,
                           json={"key": "MODE", "value": "prod"}).status_code == 204
        assert client.post(f"{env}/variables", headers=AUTH, json={
            "key": "DB_PASSWORD", "value": SECRET, "isSecret": True}).status_code == 204
        # The seed shows the environment itself, not wrapped (it was {"environment": {...}}).
        shown = get(client, env)
        assert shown["id"] == flow.environment and shown["projectId"] == flow.project
        values = {v["key"]: v["value"] for v in shown["maskedVariables"]}
        assert values == {"DB_PASSWORD": "****", "MODE": "prod"}
        precedence = get(client, f"{env}/effective-precedence")
        assert precedence["precedence"] == ["defaults", "environment", "resource"]
        post(client, f"{env}/lock", {"lockReason": "release freeze"})
        assert get(client, env)["lifecycleStatus"] == "locked"
        refused = client.post(f"{env}/variables", headers=AUTH, json={"key": "A", "value": "b"})
        assert "locked" in error(refused, 409, "conflict")["base"][0]
        error(client.post(f"/resources/{flow.resource}/source", headers=AUTH,
                          json={"source": {"locator": "busybox:1"}}), 409, "conflict")
        error(client.post("/deployments", headers=AUTH, json=flow.context), 409, "conflict")
        plan = get(client, "/deployments/plan", **flow.context)
        assert "environment-locked" in plan["readiness"]["reasonCodes"]
        post(client, f"{env}/unlock")
        removed = client.request("DELETE", f"{env}/variables/MODE", headers=AUTH,
                                 json={"exposure": "runtime"})
        assert removed.status_code == 204
        assert [v["key"] for v in get(client, env)["maskedVariables"]] == [
            "DB_PASSWORD"]
        assert get(client, "/environments/count", projectId=flow.project) == {"count": 1}
        post(client, f"{env}/archive", {"archiveReason": "gone"})
        error(client.post(f"{env}/rename", headers=AUTH, json={"name": "x"}), 409, "conflict")


def test_resource_profiles_secrets_and_the_plan() -> None:
    with running() as client:
        flow = Workflow(client)
        plan = get(client, "/deployments/plan", **flow.context)
        assert plan["schemaVersion"] == "deployments.plan/v1"
        assert not plan["readiness"]["ready"]
        assert {"resource-source-missing", "no-server-available"} <= set(
            plan["readiness"]["reasonCodes"])
        flow.configure()
        client.post(f"/environments/{flow.environment}/variables", headers=AUTH,
                    json={"key": "API_KEY", "value": "from-env"})
        shown = get(client, f"/resources/{flow.resource}")
        assert shown["schemaVersion"] == "resources.show/v1"
        assert shown["resource"]["slug"] == "web-app"
        assert {k: shown["source"][k] for k in ("kind", "locator", "imageName", "imageTag")} == {
            "kind": "docker-image", "locator": "busybox:1.36", "imageName": "busybox",
            "imageTag": "1.36"}
        assert shown["networkProfile"]["internalPort"] == 8080
        assert shown["healthPolicy"]["enabled"] and shown["healthPolicy"]["http"]["path"] == (
            "/healthz")
        secrets = get(client, f"/resources/{flow.resource}/secrets")["items"]
        assert [(s["key"], s["value"], s["kind"]) for s in secrets] == [
            ("API_KEY", "****", "secret")]
        assert secrets[0]["resourceId"] == flow.resource  # each item names it, as the seed's
        config = get(client, f"/resources/{flow.resource}/effective-config")
        [entry] = config["effectiveEntries"]
        assert (entry["scope"], entry["value"]) == ("resource", "****")
        assert config["overrides"][0]["previousScope"] == "environment"
        error(client.post(f"/resources/{flow.resource}/secrets", headers=AUTH,
                          json={"key": "API_KEY", "value": "x"}), 409, "conflict")
        flow.node()
        ready = get(client, "/deployments/plan", **flow.context)
        assert ready["readiness"] == {"status": "ready", "ready": True, "reasonCodes": []}
        post(client, f"/resources/{flow.resource}/health-policy/reset")
        assert not get(client, f"/resources/{flow.resource}")["healthPolicy"]["enabled"]
        assert shown["rollbackPolicy"] == {"automatic": False}
        post(client, f"/resources/{flow.resource}/rollback-policy",
             {"rollbackPolicy": {"automatic": True}})
        assert get(client, f"/resources/{flow.resource}")["rollbackPolicy"]["automatic"]
        assert get(client, "/resources/count", projectId=flow.project) == {"count": 1}
        assert get(client, "/resources", environmentId=flow.environment)["items"][0][
            "networkProfile"]["internalPort"] == 8080


def test_deploy_watch_redeploy_fail_roll_back_retry_cancel(any_url: str) -> None:
    with configured(any_url) as (flow, node, token):
        client = flow.client
        first = flow.deploy()
        assert flow.status(first) == "running"
        busy = client.request("DELETE", f"/resources/{flow.resource}", headers=AUTH,
                              json={"confirmation": {"resourceSlug": "web-app"}})
        assert error(busy, 409, "conflict", {"blockers"})["blockers"] == [first]
        flow.report(token, first, "ready")
        shown = flow.show(first)
        assert shown["schemaVersion"] == "deployments.show/v1"
        assert shown["deployment"]["status"] == "succeeded"
        assert shown["deployment"]["serverId"] == node
        events = shown["timeline"]["events"]
        assert [e["eventType"] for e in events] == ["Requested", "Placed", "Ready"]
        assert [e["status"] for e in events] == ["created", "running", "succeeded"]
        assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
        variables = shown["snapshot"]["environmentSnapshot"]["variables"]
        assert [(v["key"], v["value"]) for v in variables] == [("API_KEY", "****")]
        assert shown["relatedContext"]["resource"]["slug"] == "web-app"
        second = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        flow.report(token, second, "error")
        assert flow.status(second) == "failed"
        failed = flow.show(second)
        assert failed["latestFailure"]["message"] == "health check failed: 503"
        assert failed["deployment"]["triggerKind"] == "redeploy"
        recovery = get(client, f"/deployments/{second}/recovery-readiness")
        assert recovery["retryable"] and recovery["rollbackReady"]
        assert recovery["rollback"]["recommendedCandidateId"] == first
        back = post(client, f"/deployments/{second}/rollback",
                    {"rollbackCandidateDeploymentId": first}, 201)["id"]
        flow.report(token, back, "ready")
        rolled = flow.show(back)["deployment"]
        assert (rolled["status"], rolled["rollbackCandidateDeploymentId"],
                rolled["rollbackOfDeploymentId"]) == ("rolled-back", first, second)
        assert flow.status(first) == "succeeded"  # superseded, still what it was
        retried = post(client, f"/deployments/{second}/retry", {}, 201)["id"]
        assert flow.show(retried)["deployment"]["sourceDeploymentId"] == second
        wrong = client.post(f"/deployments/{retried}/cancel", headers=AUTH,
                            json={"confirm": first})
        error(wrong, 422, "validation_failed", {"confirm"})
        canceled = post(client, f"/deployments/{retried}/cancel", {"confirm": retried})
        assert (canceled["id"], canceled["status"]) == (retried, "cancel-requested")
        flow.report(token, retried, "terminated")
        assert flow.status(retried) == "canceled"
        error(client.post(f"/deployments/{retried}/cancel", headers=AUTH,
                          json={"confirm": retried}), 409, "conflict")
        assert get(client, "/deployments/count", resourceId=flow.resource) == {"count": 4}
        assert get(client, "/deployments/count", status="failed") == {"count": 1}
        listed = get(client, "/deployments", projectId=flow.project, limit=2)["items"]
        assert [d["id"] for d in listed] == [retried, back]
        server = get(client, f"/servers/{node}")
        assert server["schemaVersion"] == "servers.show/v1"
        assert server["rollups"]["deployments"]["total"] == 4
        assert server["rollups"]["resources"]["deployedResourceIds"] == [flow.resource]
        assert get(client, "/servers/count") == {"count": 1}
        assert get(client, "/servers")["items"][0]["id"] == node
        resource = get(client, f"/resources/{flow.resource}")["resource"]
        assert (resource["deploymentCount"], resource["lastDeploymentStatus"]) == (
            4, "canceled")
        post(client, f"/resources/{flow.resource}/archive")
        error(client.post("/deployments", headers=AUTH, json=flow.context), 409, "conflict")
        slug = client.request("DELETE", f"/resources/{flow.resource}", headers=AUTH,
                              json={"confirmation": {"resourceSlug": "web"}})
        error(slug, 422, "validation_failed", {"confirmation.resourceSlug"})
        deleted = client.request("DELETE", f"/resources/{flow.resource}", headers=AUTH,
                                 json={"confirmation": {"resourceSlug": "web-app"}})
        assert ok(deleted) == {"id": flow.resource}
        error(client.get(f"/resources/{flow.resource}", headers=AUTH), 404, "not_found")
        assert flow.status(back) == "rolled-back"  # history stays readable


def test_audit_lists_every_change_from_the_store_without_secrets(any_url: str) -> None:
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        page = get(client, "/audit-events", aggregateId=flow.resource)
        assert page["schemaVersion"] == "audit-events.list/v1"
        types = [i["eventType"] for i in page["items"]]
        assert types == ["edge.resource.created", "edge.resource.source_configured",
                         "edge.resource.network_profile_configured",
                         "edge.resource.health_policy_configured",
                         "edge.resource.variable_set"]
        assert page["nextCursor"] is None
        first = get(client, "/audit-events", aggregateId=flow.resource, limit=2)
        assert len(first["items"]) == 2 and first["nextCursor"]
        rest = get(client, "/audit-events", aggregateId=flow.resource,
                   cursor=first["nextCursor"])
        assert [i["eventType"] for i in rest["items"]] == types[2:]
        secret_event = page["items"][-1]["auditEventId"]
        shown = get(client, f"/audit-events/{secret_event}", aggregateId=flow.resource)
        assert shown["schemaVersion"] == "audit-events.show/v1"
        assert shown["event"]["payload"]["key"] == "API_KEY"
        assert shown["event"]["redactedFields"] == ["value"]
        assert get(client, f"/audit-events/{secret_event}")["event"]["aggregateId"] == (
            flow.resource)
        typed = get(client, "/audit-events", eventType="edge.project.created")["items"]
        assert [i["aggregateId"] for i in typed] == [flow.project]
        error(client.get(f"/audit-events/{MISSING}", headers=AUTH), 404, "not_found")


def test_an_audit_event_is_found_by_its_id_alone_in_a_log_of_any_size(any_url: str) -> None:
    """Without aggregateId, the show hashed every public event's (originator, version) to find
    the one with this id, and refused (400) past 100,000 of them; an index finds it now."""
    with running(any_url) as client:
        flow = Workflow(client)
        flow.configure()
        services_of(client).event_audit.max_scan = 2  # the old cap, met at once
        items = get(client, "/audit-events", limit=100)["items"]
        assert len(items) > 2
        for item in items:
            shown = get(client, f"/audit-events/{item['auditEventId']}")["event"]
            assert {k: shown[k] for k in item} == item
        mine = items[-1]["auditEventId"]
        assert get(client, f"/audit-events/{mine}",
                   aggregateId=items[-1]["aggregateId"])["event"]["auditEventId"] == mine
        # Another id in capitals (the last digit changed: "0" where it was, 1 in 16 runs, the
        # same id, which was found).
        other = mine.upper()[:-1] + ("1" if mine.endswith("0") else "0")
        for missing in (MISSING, "00000000-0000-0000-0000-000000000000", other):
            error(client.get(f"/audit-events/{missing}", headers=AUTH), 404, "not_found")
        error(client.get(f"/audit-events/{mine}", headers=AUTH,
                         params={"aggregateId": items[0]["aggregateId"]}), 404, "not_found")
        for bad in (str(2**63), "-1", "0", "%00", "x" * 10_000, mine + "0", mine[:-1]):
            error(client.get(f"/audit-events/{bad}", headers=AUTH), 400, "bad_request")
        for bad in (str(2**63), "-1", mine[:-1] + "\x00"):
            error(client.get(f"/audit-events/{mine}", headers=AUTH,
                             params={"aggregateId": bad}), 400, "bad_request")


BIG = 2**63


def test_bad_input_is_a_4xx_in_the_house_envelope() -> None:
    with running() as client:
        flow = Workflow(client)
        base = f"/resources/{flow.resource}"
        cases: list[tuple[str, str, Any, int]] = [
            ("POST", "/projects", {"name": "a\x00b"}, 422),
            ("POST", "/projects", {"name": "x" * 101}, 422),
            ("POST", "/projects", {"name": "ok", "extra": 1}, 422),
            ("POST", f"{base}/network-profile", {"networkProfile": {"internalPort": BIG}}, 422),
            ("POST", f"{base}/network-profile", {"networkProfile": {"internalPort": 0}}, 422),
            ("POST", f"{base}/health-policy", {"healthCheck": {"retries": BIG}}, 422),
            ("POST", f"{base}/source", {"source": {"locator": "bad image"}}, 422),
            # a lone surrogate is not valid JSON to msgspec: 400
            ("POST", f"{base}/variables", b'{"key": "A", "value": "\\ud800"}', 400),
            ("POST", "/environments", {"projectId": MISSING, "name": "x"}, 404),
            ("POST", "/projects/not-a-uuid/rename", {"name": "x"}, 400),
            ("POST", "/deployments", {**flow.context, "resourceId": MISSING}, 404),
            # invalid UTF-8 is a bad body wherever it is, a UUID field or a field's name
            ("POST", "/deployments", b'{"projectId": "\xff\xfe"}', 400),
            ("POST", "/deployments", b'{"n\xffme": 1}', 400),
            ("POST", f"{base}/rollback-policy", b'{"rollbackPolicy": {"a\xff": true}}', 400),
            ("POST", f"/deployments/{MISSING}/rollback",
             {"rollbackCandidateDeploymentId": MISSING}, 404),
        ]
        for method, path, body, status in cases:
            sent: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {
                "json": body}
            answer = client.request(method, path, headers={
                **AUTH, "content-type": "application/json"}, **sent)
            assert answer.status_code == status, (path, body, answer.text)
            assert set(answer.json()) == {"error", "meta"}, answer.text
        for path, params in [("/projects", {"limit": "501"}), ("/projects", {"limit": "0"}),
                             ("/projects", {"limit": str(BIG)}), ("/resources", {"x": "1"}),
                             ("/deployments", {"status": "bogus"}),
                             ("/deployments/plan", {"projectId": flow.project}),
                             ("/audit-events", {"cursor": "-1"}),
                             ("/environments", {"projectId": "\x00"})]:
            error(client.get(path, headers=AUTH, params=params), 400, "bad_request")
        unauthenticated = client.get("/projects")
        assert unauthenticated.status_code == 401
        assert client.get("/deployments").status_code == 401


def test_a_null_query_value_is_refused_not_taken_for_no_filter() -> None:
    # msgspec's lax conversion read "null" as None for id, number and flag parameters, so
    # ?resourceId=null counted every resource's deployments and ?aggregateId=null listed
    # every aggregate's events, where Appaloft matches no such id.
    with running() as client:
        flow = Workflow(client)
        for path, name in [("/deployments/count", "resourceId"), ("/deployments", "projectId"),
                           ("/resources/count", "projectId"), ("/audit-events", "aggregateId"),
                           ("/audit-events", "cursor"), ("/projects", "limit")]:
            for null in ("null", "NULL"):
                error(client.get(path, headers=AUTH, params={name: null}), 400, "bad_request",
                      {name})
        assert get(client, "/resources/count", projectId=flow.project) == {"count": 1}


def test_a_project_is_deleted_once_its_resources_are_even_in_an_archived_environment() -> None:
    # Deleting a project left its resources deployable and their containers running, and in
    # an archived environment nothing in Appaloft could stop them.
    with configured() as (flow, _, token):
        client, project = flow.client, flow.project
        deployment = flow.deploy()
        flow.report(token, deployment, "ready")
        post(client, f"/environments/{flow.environment}/archive")
        post(client, f"/projects/{project}/archive")
        check = get(client, f"/projects/{project}/delete-check")
        assert not check["eligible"]
        assert [(b["kind"], b["relatedEntityId"]) for b in check["blockers"]] == [
            ("active-resource", flow.resource)]
        confirm = {"confirmation": {"projectId": project}}
        refused = client.request("DELETE", f"/projects/{project}", headers=AUTH, json=confirm)
        assert error(refused, 409, "conflict", {"blockers"})["blockers"] == [flow.resource]
        gone = client.request("DELETE", f"/resources/{flow.resource}", headers=AUTH,
                              json={"confirmation": {"resourceSlug": "web-app"}})
        assert gone.status_code == 200, gone.text
        request_id = flow.show(deployment)["deployment"]["requestId"]
        status = client.get(f"/v1/status/{request_id}", headers=AUTH).json()
        assert status["current_status"] == "Status.READY" and status["running"], status
        work = client.post("/agent/v1/work", headers=token, json={
            "wait_seconds": 0, "deployments": [request_id]}).json()["data"]
        assert work["stop_deployments"] == [request_id], work  # its container is removed
        assert get(client, f"/projects/{project}/delete-check")["eligible"]
        deleted = client.request("DELETE", f"/projects/{project}", headers=AUTH, json=confirm)
        assert deleted.status_code == 200, deleted.text


def test_a_deleted_projects_environments_go_with_it(any_url: str) -> None:
    """A deleted project's environments were still listed as active, answered 200 and took
    writes (variables, lock, rename, clone) under a project that was gone."""
    with running(any_url) as client:
        project = post(client, "/projects", {"name": "Shop"}, 201)["id"]
        other = post(client, "/projects", {"name": "Kept"}, 201)["id"]
        kept = post(client, "/environments", {"projectId": other, "name": "production"},
                    201)["id"]
        names = ("production", "staging", "old")
        production, staging, old = (post(client, "/environments", {
            "projectId": project, "name": name}, 201)["id"] for name in names)
        assert client.post(f"/environments/{production}/variables", headers=AUTH,
                           json={"key": "MODE", "value": "prod"}).status_code == 204
        post(client, f"/environments/{staging}/lock", {"lockReason": "freeze"})
        post(client, f"/environments/{old}/archive")
        post(client, f"/projects/{project}/archive")
        confirm = {"confirmation": {"projectId": project}}
        deleted = client.request("DELETE", f"/projects/{project}", headers=AUTH, json=confirm)
        assert ok(deleted) == {"id": project}

        assert get(client, "/environments", projectId=project)["items"] == []
        assert get(client, "/environments/count", projectId=project) == {"count": 0}
        assert [e["id"] for e in get(client, "/environments")["items"]] == [kept]
        for environment in (production, staging, old):
            path = f"/environments/{environment}"
            error(client.get(path, headers=AUTH), 404, "not_found")
            error(client.get(f"{path}/effective-precedence", headers=AUTH), 404, "not_found")
            error(client.get(f"{path}/diff/{kept}", headers=AUTH), 404, "not_found")
            for write, body in ((f"{path}/variables", {"key": "A", "value": "b"}),
                                (f"{path}/lock", {}), (f"{path}/unlock", None),
                                (f"{path}/rename", {"name": "renamed"}),
                                (f"{path}/archive", {}),
                                (f"{path}/clone", {"targetName": "copy"}),
                                (f"{path}/promote", {"targetName": "up", "targetKind": "prod"})):
                error(client.post(write, headers=AUTH, json=body), 404, "not_found")
            unset = client.request("DELETE", f"{path}/variables/MODE", headers=AUTH,
                                   json={"exposure": "runtime"})
            error(unset, 404, "not_found")
            gone = get(client, "/audit-events", aggregateId=environment)["items"]
            assert gone[-1]["eventType"] == "edge.environment.deleted"
        assert get(client, "/environments/count") == {"count": 1}
        refused = client.post("/resources", headers=AUTH, json={
            "projectId": project, "environmentId": production, "name": "web"})
        error(refused, 404, "not_found")


def test_an_archived_project_takes_no_deployment() -> None:
    with configured() as (flow, _, _):
        post(flow.client, f"/projects/{flow.project}/archive")
        plan = get(flow.client, "/deployments/plan", **flow.context)
        assert "project-archived" in plan["readiness"]["reasonCodes"], plan
        refused = flow.client.post("/deployments", headers=AUTH, json=flow.context)
        error(refused, 409, "conflict")
        assert get(flow.client, "/deployments/count") == {"count": 0}


def test_a_deployment_on_an_unknown_server_is_a_404_and_records_nothing() -> None:
    with configured() as (flow, _, _):
        unknown = flow.client.post("/deployments", headers=AUTH,
                                   json={**flow.context, "serverId": MISSING})
        error(unknown, 404, "not_found")
        assert get(flow.client, "/deployments/count") == {"count": 0}


def test_a_failure_names_who_decided_it_the_node_or_the_admin(any_url: str) -> None:
    """latestFailure.source and the failure's log line: edge-agent for what the node reported,
    edge-admin for what the admin decided (node deleted, no room); both said edge-agent. And
    its phase, the same in the failure, its log line and its event: latestFailure said `run`
    for every failure, its log line and event `start` even for no room (never placed)."""
    with configured(any_url) as (flow, node, token):
        client = flow.client
        reported = flow.deploy()
        flow.report(token, reported, "error")
        exited = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        request_id = flow.show(exited)["deployment"]["requestId"]
        sent = client.post(f"/agent/v1/deployments/{request_id}/report", headers=token,
                           json={"state": "error", "detail": "container exited (1)"})
        assert sent.status_code == 200, sent.text
        orphaned = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        deleted = client.delete(f"/api/v1/nodes/{node}", headers=AUTH)
        assert deleted.status_code in (200, 204), deleted.text
        no_room = flow.deploy(f"/resources/{flow.resource}/redeploy", {})
        expected = [(reported, "edge-agent", "health check failed: 503", "health"),
                    (exited, "edge-agent", "container exited (1)", "start"),
                    (orphaned, "edge-admin", f"node {node} was deleted", "start"),
                    (no_room, "edge-admin", "Couldn't Allocate Server", "plan")]
        for deployment, source, message, phase in expected:
            assert flow.status(deployment) == "failed"
            failure = flow.show(deployment)["latestFailure"]
            assert (failure["source"], failure["message"], failure["phase"]) == (
                source, message, phase), failure
            logs = get(client, f"/deployments/{deployment}/logs")["logs"]
            errors = [(e["source"], e["message"], e["phase"]) for e in logs
                      if e["level"] == "error"]
            assert errors == [(source, message, phase)], logs
            events = get(client, f"/deployments/{deployment}/events")["envelopes"]
            assert [e["event"]["phase"] for e in events
                    if e["event"]["eventType"] == "deployment-failed"] == [phase], events
