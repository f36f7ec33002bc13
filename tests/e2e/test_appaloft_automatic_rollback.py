"""Automatic rollback on real containers, through HTTP: a resource asking for it
(POST /resources/{id}/rollback-policy) deploys busybox httpd healthy, then a redeploy whose
health check 404s fails, and the admin rolls it back by itself to the first snapshot: the
rollback attempt ends `rolled-back` and serves the first snapshot, and the decision is in the
audit. A real edge-agent process on podman, every answer checked against the OpenAPI document
(tests/contract.py); skipped where podman is absent (the `engine` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_fixtures import Children, InProcessAdmin, enroll_agent, eventually
from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_agent_health_containers import containers, fetch
from tests.e2e.test_appaloft_containers import Api, admin, api, health

pytestmark = pytest.mark.e2e
__all__ = ["admin", "api"]  # the fixtures, shared with the resource workflow's test
PAGE = b"hello from the edge\n"


def test_a_failing_redeploy_is_rolled_back_by_itself_on_podman(
        engine: Engine, admin: InProcessAdmin, children: Children, api: Api, tmp_path: Path
) -> None:
    rolled_back_by_itself(api, engine, admin, children, tmp_path)


def resource_asking_for_rollback(api: Api) -> dict[str, str]:
    project = api.post("/projects", {"name": "Shop"}, 201)["id"]
    environment = api.post("/environments", {"projectId": project, "name": "production",
                                              "kind": "production"}, 201)["id"]
    resource = api.post("/resources", {"projectId": project, "environmentId": environment,
                                       "name": "web"}, 201)["id"]
    base = f"/resources/{resource}"
    api.post(f"{base}/source", {"source": {"locator": IMAGE}})
    api.post(f"{base}/network-profile", {"networkProfile": {"internalPort": 8080}})
    api.post(f"{base}/health-policy", health("/index.html"))
    bad: dict[str, Any]
    for bad in ({}, {"rollbackPolicy": {"automatic": "yes"}}, {"rollbackPolicy": {}}):
        refused = api.http.post(f"{base}/rollback-policy", json=bad)
        assert refused.status_code in (400, 422), refused.text
    assert api.http.post("/resources/00000000-0000-0000-0000-000000000000/rollback-policy",
                         json={"rollbackPolicy": {"automatic": True}}).status_code == 404
    api.post(f"{base}/rollback-policy", {"rollbackPolicy": {"automatic": True}})
    assert api.get(base)["rollbackPolicy"] == {"automatic": True}
    return {"projectId": project, "environmentId": environment, "resourceId": resource}


def rolled_back_by_itself(api: Api, engine: Engine, admin: InProcessAdmin,
                          children: Children, tmp: Path) -> None:
    enroll_agent(admin, children, engine, tmp)
    context = resource_asking_for_rollback(api)
    base = f"/resources/{context['resourceId']}"
    first = api.post("/deployments", context, 201)["id"]
    shown = api.settled(first, children)
    assert shown["deployment"]["status"] == "succeeded", shown
    assert fetch(f"{api.link(shown)}/index.html") == PAGE

    api.post(f"{base}/health-policy", health("/missing"))
    second = api.post(f"{base}/redeploy", {}, 201)["id"]
    assert api.settled(second, children)["deployment"]["status"] == "failed"

    def rollback_begun() -> str | None:
        latest: dict[str, Any] | None = api.get(base)["latestDeployment"]
        return None if latest is None or latest["id"] in (first, second) else str(latest["id"])

    back = eventually(rollback_begun, "the automatic rollback", children, 30)
    rolled = api.settled(back, children)
    deployment = rolled["deployment"]
    assert (deployment["status"], deployment["triggerKind"],
            deployment["rollbackCandidateDeploymentId"], deployment["sourceDeploymentId"]) == (
        "rolled-back", "rollback", first, second), rolled
    # The first snapshot exactly (its check passes), created when the first was.
    assert rolled["snapshot"] == api.get(f"/deployments/{first}")["snapshot"]
    assert fetch(f"{api.link(rolled)}/index.html") == PAGE

    audit = [i["eventType"] for i in api.get("/audit-events", aggregateId=context["resourceId"],
                                             limit=100)["items"]]
    assert audit[-3:] == ["edge.resource.rollback_policy_configured",
                          "edge.resource.health_policy_configured",
                          "edge.resource.automatic_rollback_decided"], audit

    for deployment_id in (back, first):
        request_id = api.get(f"/deployments/{deployment_id}")["deployment"]["requestId"]
        assert api.http.delete(f"/v1/stop/{request_id}").status_code in (200, 202, 410)
    eventually(lambda: not [c for c in containers(engine) if c.startswith("edge-")] or None,
               "the containers removed", children, 60)
