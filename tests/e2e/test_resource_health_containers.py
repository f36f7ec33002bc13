"""A resource's health on real containers (issue 17), every step through HTTP: a real edge-agent
process runs busybox httpd on podman and keeps checking it once it is ready. Healthy → its
health endpoint starts failing (the file it serves is removed in the container) → cached health
turns unhealthy and the history shows the change → live mode answers from a probe made then →
the container is killed with podman → the resource is unhealthy, its runtime exited. Every
answer is checked against the OpenAPI document (tests/contract.py's hooks)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_fixtures import Children, InProcessAdmin, enroll_agent, eventually
from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_appaloft_containers import Api, admin, api

pytestmark = pytest.mark.e2e
__all__ = ["admin", "api"]  # the fixtures, used by name
SERVE = "echo ok > /www/health.txt; exec /bin/httpd -f -p 8080 -h /www"


def test_cached_health_history_and_live_probes_follow_a_real_container(
        engine: Engine, admin: InProcessAdmin, children: Children, api: Api, tmp_path: Path
) -> None:
    watch_health(api, engine, admin, children, tmp_path)


def watch_health(api: Api, engine: Engine, admin: InProcessAdmin, children: Children,
                 tmp: Path) -> None:
    enroll_agent(admin, children, engine, tmp)
    project = api.post("/projects", {"name": "Shop"}, 201)["id"]
    environment = api.post("/environments", {"projectId": project, "name": "prod"}, 201)["id"]
    resource = api.post("/resources", {"projectId": project, "environmentId": environment,
                                       "name": "web"}, 201)["id"]
    base = f"/resources/{resource}"
    api.post(f"{base}/source", {"source": {"locator": IMAGE}})
    api.post(f"{base}/runtime-profile", {"runtimeProfile": {
        "command": "/bin/sh", "args": ["-c", SERVE]}})
    api.post(f"{base}/network-profile", {"networkProfile": {"internalPort": 8080}})
    api.post(f"{base}/health-policy", {"healthCheck": {
        "type": "http", "http": {"path": "/health.txt", "expectedStatusCode": 200},
        "intervalSeconds": 1, "timeoutSeconds": 3, "retries": 2}})
    assert api.get(f"{base}/health")["overall"] == "not-deployed"
    deployment = api.post("/deployments", {"projectId": project, "environmentId": environment,
                                           "resourceId": resource}, 201)["id"]
    assert api.settled(deployment, children)["deployment"]["status"] == "succeeded"
    container = "edge-" + api.get(f"/deployments/{deployment}")["deployment"]["requestId"]

    def health_is(overall: str, reason: str, **params: Any) -> Any:
        def now() -> Any:
            shown = api.get(f"{base}/health", **params)
            return shown if (shown["overall"], shown["runtime"]["reasonCode"]) == (
                overall, reason) else None
        return eventually(now, f"{overall} ({reason})", children, 30)

    healthy = health_is("healthy", "health-check-passed")  # the agent's own observation
    assert healthy["latestDeployment"]["id"] == deployment
    live = api.get(f"{base}/health", mode="live", includeChecks="true")
    assert (live["overall"], live["sourceErrors"]) == ("healthy", []), live
    [check] = live["checks"]
    assert (check["phase"], check["status"], check["statusCode"]) == ("probe", "passed", 200)

    podman(engine, "exec", container, "rm", "/www/health.txt")
    failing = health_is("unhealthy", "health-check-failed", includeChecks="true")
    assert failing["runtime"]["lifecycle"] == "running"
    assert "answered 404 (expected 200)" in failing["runtime"]["message"], failing
    assert failing["checks"][0]["statusCode"] == 404
    live = api.get(f"{base}/health", mode="live", includeChecks="true")
    [check] = live["checks"]
    assert (live["overall"], check["phase"], check["status"]) == ("unhealthy", "probe",
                                                                  "failed"), live
    # A probe of a busy machine may find no answer in time rather than the 404.
    assert check["statusCode"] == 404 or "no answer" in check["message"], check
    changes = [(o["overall"], o["summary"]["checks"][0]["phase"]) for o in
               api.get(f"{base}/health-history")["observations"]]
    assert [c for c in changes if c[1] == "change"] == [("healthy", "change"),
                                                         ("unhealthy", "change")], changes

    podman(engine, "kill", container)
    ended = health_is("unhealthy", "runtime-exited")
    assert ended["runtime"]["lifecycle"] == "exited"

    def exit_kept() -> Any:  # the agent's word on the end may come after its error report
        last = api.get(f"{base}/health-history")["observations"][-1]
        return last if last["runtimeLifecycle"] == "exited" else None
    last = eventually(exit_kept, "the exit in the history", children, 30)
    assert (last["overall"], last["summary"]["checks"][0]["phase"]) == ("unhealthy", "exit")
    nothing = api.get(f"{base}/health", mode="live")
    assert [e["code"] for e in nothing["sourceErrors"]] == ["no-running-deployment"]


def podman(engine: Engine, *args: str) -> None:
    subprocess.run(["podman", *args], env=engine.env, check=True, capture_output=True,
                   timeout=60)
