"""Issue 17's resource workflow on real containers, every step through HTTP.

A real edge-agent process runs busybox httpd on podman for an admin served by uvicorn in this
process; every request goes through tests/contract.py's checking hooks, so each answer is also
validated against the OpenAPI document. Project, environment and resource with an HTTP health
policy → plan → deploy → succeeded and serving → a redeploy whose check 404s fails while the
first keeps serving → rollback to the first → rolled-back, serving its snapshot, whose container
output reaches the runtime logs → the deployments' logs and events show each step → the audit
lists every change. Skipped where podman
is absent, like the other container tests (the `engine` fixture).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract import HOOKS
from tests.e2e.agent_fixtures import (
    Children,
    InProcessAdmin,
    enroll_agent,
    eventually,
    in_process_admin,
)
from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_agent_health_containers import containers, fetch
from tests.e2e.test_http_support import AUTH

pytestmark = pytest.mark.e2e
TERMINAL = {"succeeded", "failed", "canceled", "rolled-back"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


class Api:
    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH,
                                 event_hooks=HOOKS, timeout=30)

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        return ok(self.http.post(path, json=body if body is not None else {}), status)

    def get(self, path: str, **params: Any) -> Any:
        return ok(self.http.get(path, params=params))

    def settled(self, deployment: str, children: Children) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            shown: dict[str, Any] = self.get(f"/deployments/{deployment}")
            return shown if shown["deployment"]["status"] in TERMINAL else None
        return eventually(done, f"{deployment} settled", children, 90)

    def link(self, shown: dict[str, Any]) -> str:
        status = self.get(f"/v1/status/{shown['deployment']['requestId']}")
        [port] = status["ports"].values()
        return str(port["link"])


admin = in_process_admin


@pytest.fixture
def api(admin: InProcessAdmin) -> Iterator[Api]:
    """The in-process admin's HTTP API, every answer checked against the OpenAPI document."""
    client = Api(admin.services.settings.port)
    try:
        yield client
    finally:
        client.http.close()


def health(path: str) -> dict[str, Any]:
    return {"healthCheck": {"type": "http", "http": {"path": path, "expectedStatusCode": 200},
                            "intervalSeconds": 1, "timeoutSeconds": 1, "retries": 2}}


def progress(api: Api, deployment: str, settled: str = "deployment-ready"
             ) -> list[tuple[str, str]]:
    """The agent's progress lines of an attempt's start, (phase, message) in order, each
    recorded before the event that settled it."""
    events = api.get(f"/deployments/{deployment}/events")["envelopes"]
    [end] = [e["event"]["emittedAt"] for e in events if e["event"]["eventType"] == settled]
    lines = [e for e in api.get(f"/deployments/{deployment}/logs")["logs"]
             if e["source"] == "edge-agent" and e["phase"] in ("pull", "start", "health")
             and e["level"] == "info" and not e["message"].startswith("ready")]
    assert all(datetime.fromisoformat(e["timestamp"]) < datetime.fromisoformat(end)
               for e in lines), (lines, end)
    return [(e["phase"], e["message"]) for e in lines]


def test_deploy_fail_and_roll_back_a_resource_on_podman_through_http(
        engine: Engine, admin: InProcessAdmin, children: Children, api: Api, tmp_path: Path
) -> None:
    workflow(api, engine, admin, children, tmp_path)


def workflow(api: Api, engine: Engine, admin: InProcessAdmin, children: Children,
             tmp: Path) -> None:
    node = enroll_agent(admin, children, engine, tmp)
    project = api.post("/projects", {"name": "Shop"}, 201)["id"]
    environment = api.post("/environments", {"projectId": project, "name": "production",
                                              "kind": "production"}, 201)["id"]
    resource = api.post("/resources", {"projectId": project, "environmentId": environment,
                                       "name": "web"}, 201)["id"]
    context = {"projectId": project, "environmentId": environment, "resourceId": resource}
    base = f"/resources/{resource}"
    api.post(f"{base}/source", {"source": {"locator": IMAGE}})
    api.post(f"{base}/runtime-profile", {"runtimeProfile": {"command": "/bin/sh", "args": [
        "-c", "echo serving on 8080; exec /bin/httpd -f -p 8080 -h /www"]}})
    api.post(f"{base}/network-profile", {"networkProfile": {"internalPort": 8080}})
    api.post(f"{base}/health-policy", health("/index.html"))

    plan = api.get("/deployments/plan", **context)
    assert plan["readiness"]["ready"] is True, plan
    first = api.post("/deployments", context, 201)["id"]
    began = time.monotonic()
    shown = api.settled(first, children)
    assert shown["deployment"]["status"] == "succeeded", shown
    assert shown["deployment"]["serverId"] == str(node)
    link = api.link(shown)
    assert fetch(f"{link}/index.html") == b"hello from the edge\n"
    assert time.monotonic() - began < 90
    said = progress(api, first)
    assert [phase for phase, _ in said[:2]] == ["pull", "start"], said
    assert said[-1][0] == "health" and said[-1][1].endswith("; healthy"), said

    api.post(f"{base}/health-policy", health("/missing"))
    second = api.post(f"{base}/redeploy", {}, 201)["id"]
    failed = api.settled(second, children)
    assert failed["deployment"]["status"] == "failed", failed
    assert failed["latestFailure"]["message"] == (
        "health check failed: GET /missing answered 404 (expected 200)")
    assert fetch(f"{link}/index.html") == b"hello from the edge\n", "the first still serves"
    assert api.get(f"/deployments/{first}")["deployment"]["status"] == "succeeded"

    back = api.post(f"/deployments/{second}/rollback",
                    {"rollbackCandidateDeploymentId": first}, 201)["id"]
    rolled = api.settled(back, children)
    assert (rolled["deployment"]["status"], rolled["deployment"]["rollbackCandidateDeploymentId"]
            ) == ("rolled-back", first), rolled
    # The first's snapshot, not the resource's current configuration (its check 404s).
    # Its createdAt too: when the first's snapshot was taken, not when the rollback was asked.
    snapshots = [api.get(f"/deployments/{d}")["snapshot"] for d in (first, second, back)]
    assert snapshots[2] == snapshots[0] != snapshots[1], snapshots
    assert fetch(f"{api.link(rolled)}/index.html") == b"hello from the edge\n"
    # The serving container's own output, as its agent ships it while the container runs.
    eventually(lambda: [line for line in api.get(f"{base}/runtime-logs")["logs"]
                        if line["deploymentId"] == back and line["message"] == "serving on 8080"],
               "the rollback's container output in its runtime logs", children, 30)

    for deployment, last in ((first, "deployment-ready"), (second, "deployment-failed"),
                             (back, "deployment-ready")):
        envelopes = api.get(f"/deployments/{deployment}/events")["envelopes"]
        kinds = [e["event"]["eventType"] for e in envelopes]
        assert kinds[:3] == ["deployment-requested", "deployment-placed", last], kinds
        # The rollback, once healthy, replaced the first: its container is asked to stop.
        assert ("deployment-stop-requested" in kinds) == (deployment == first), kinds
        rows = [(e["source"], e["phase"], e["level"])
                for e in api.get(f"/deployments/{deployment}/logs")["logs"]]
        assert rows[:2] == [("edge-admin", "plan", "info"), ("edge-admin", "pull", "info")]
        assert ("edge-agent", "health", "error" if deployment == second else "info") in rows, (
            rows)
    # Its probes were said as they failed, before the failure: the first few, then a count.
    said = progress(api, second, "deployment-failed")
    probes = [message for phase, message in said if phase == "health"]
    # The first probes may find the server not listening yet (early probes; a loaded machine
    # starts httpd later), then each says the 404; the count line says the last result.
    assert probes[0].startswith("probe 1 failed: "), said
    assert any(p.endswith("GET /missing answered 404 (expected 200)") for p in probes), said
    assert all(p.endswith(("answered 404 (expected 200)", "connection refused"))
               for p in probes), said
    assert len(probes) <= 4, said
    errors = [(e["source"], e["phase"], e["message"])
              for e in api.get(f"/deployments/{second}/logs")["logs"] if e["level"] == "error"]
    assert ("edge-agent", "health",
            "health check failed: GET /missing answered 404 (expected 200)") in errors, errors
    # The container's own output, sent before the report: a routine log tail sent after it
    # once replaced it on the in-memory read model.
    assert ("container", "health", "serving on 8080") in errors, errors

    audit = api.get("/audit-events", aggregateId=resource, limit=100)["items"]
    assert [i["eventType"] for i in audit] == [
        "edge.resource.created", "edge.resource.source_configured",
        "edge.resource.runtime_profile_configured",
        "edge.resource.network_profile_configured", "edge.resource.health_policy_configured",
        "edge.resource.health_policy_configured"], audit
    for aggregate, created in ((project, "edge.project.created"),
                               (environment, "edge.environment.created")):
        assert [i["eventType"] for i in api.get("/audit-events", aggregateId=aggregate)[
            "items"]] == [created]
    for deployment, verdict in ((first, "ready"), (second, "error"), (back, "ready")):
        types = [i["eventType"] for i in api.get(
            "/audit-events", aggregateId=deployment, limit=100)["items"]]
        assert types[:3] == ["edge.deployment.requested", "edge.deployment.placed",
                             f"edge.deployment.{verdict}"], types

    for deployment in (back, first):
        request_id = api.get(f"/deployments/{deployment}")["deployment"]["requestId"]
        stop = api.http.delete(f"/v1/stop/{request_id}")
        assert stop.status_code in (200, 202), stop.text
    eventually(lambda: not [c for c in containers(engine) if c.startswith("edge-")] or None,
               "the containers removed", children, 60)
