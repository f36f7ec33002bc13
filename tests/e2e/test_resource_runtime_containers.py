"""A resource's runtime stop, start and restart on real containers, every step through HTTP.

A real edge-agent process runs busybox httpd on podman for an admin served by uvicorn in this
process (responses checked against the OpenAPI document by tests/contract.py): deploy →
runtime/stop → the port no longer serves and the state is stopped (and stays so across agent
polls) → start → the same container serves again → restart → serves; the decisions and
outcomes are in the audit. Skipped where podman is absent (the `engine` fixture).
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_agent_health_containers import (
    InProcessAdmin,
    containers,
    enroll_agent,
    fetch,
)
from tests.e2e.test_agent_process import Children, eventually, free_port
from tests.e2e.test_appaloft_containers import Api, health

pytestmark = pytest.mark.e2e
PAGE = b"hello from the edge\n"


@pytest.fixture
def admin() -> Iterator[InProcessAdmin]:
    running = InProcessAdmin(free_port())
    yield running
    running.close()


def serves(link: str) -> bool:
    try:
        return fetch(f"{link}/index.html") == PAGE
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_stop_start_restart_a_resource_runtime_on_podman(
        engine: Engine, admin: InProcessAdmin, tmp_path: Path) -> None:
    children = Children(tmp_path / "logs")
    api = Api(admin.services.settings.port)
    try:
        runtime_workflow(api, engine, admin, children, tmp_path)
    finally:
        api.http.close()
        children.close()


def deploy(api: Api, admin: InProcessAdmin, children: Children, engine: Engine,
           tmp: Path) -> tuple[str, str, str]:
    enroll_agent(admin, children, engine, tmp)
    project = api.post("/projects", {"name": "Shop"}, 201)["id"]
    environment = api.post("/environments", {"projectId": project, "name": "production"},
                           201)["id"]
    resource = api.post("/resources", {"projectId": project, "environmentId": environment,
                                       "name": "web"}, 201)["id"]
    base = f"/resources/{resource}"
    api.post(f"{base}/source", {"source": {"locator": IMAGE}})
    api.post(f"{base}/runtime-profile", {"runtimeProfile": {"command": "/bin/sh", "args": [
        "-c", "echo serving on 8080; exec /bin/httpd -f -vv -p 8080 -h /www"]}})
    api.post(f"{base}/network-profile", {"networkProfile": {"internalPort": 8080}})
    api.post(f"{base}/health-policy", health("/index.html"))
    deployment = api.post("/deployments", {"projectId": project, "environmentId": environment,
                                           "resourceId": resource}, 201)["id"]
    shown = api.settled(deployment, children)
    assert shown["deployment"]["status"] == "succeeded", shown
    return resource, deployment, api.link(shown)


def control(api: Api, resource: str, operation: str, children: Children) -> dict[str, Any]:
    asked = api.post(f"/resources/{resource}/runtime/{operation}", {})
    assert (asked["operation"], asked["status"], asked["blockedReason"]) == (
        operation, "accepted", None), asked

    def ended() -> dict[str, Any] | None:
        shown: dict[str, Any] = api.get(
            f"/resources/{resource}/runtime-controls/{asked['runtimeControlAttemptId']}")
        return shown if shown["status"] in ("succeeded", "failed") else None

    done = eventually(ended, f"runtime {operation} done", children, 60)
    assert done["status"] == "succeeded", done
    assert all(p["status"] == "succeeded" for p in done["phases"]), done
    return done


def runtime_workflow(api: Api, engine: Engine, admin: InProcessAdmin, children: Children,
                     tmp: Path) -> None:
    resource, deployment, link = deploy(api, admin, children, engine, tmp)
    assert serves(link)

    stopped = control(api, resource, "stop", children)
    assert (stopped["runtimeState"], stopped["deploymentId"]) == ("stopped", deployment)
    assert not serves(link)
    assert [c for c in containers(engine) if c.startswith("edge-")], "kept, not removed"
    time.sleep(3)  # several agent polls: its reconciliation does not start it again
    assert not serves(link)
    assert api.get(f"/deployments/{deployment}")["deployment"]["status"] == "succeeded"

    started = control(api, resource, "start", children)
    assert started["runtimeState"] == "running"
    assert eventually(lambda: serves(link), "served again", children, 30)

    restarted = control(api, resource, "restart", children)
    assert [p["phase"] for p in restarted["phases"]] == ["stop", "start"]
    assert eventually(lambda: serves(link), "served after the restart", children, 30)

    listed = api.get(f"/resources/{resource}/runtime-controls")["items"]
    assert [i["operation"] for i in listed] == ["restart", "start", "stop"]
    audit = [i["eventType"] for i in api.get("/audit-events", aggregateId=resource,
                                             limit=100)["items"]]
    assert audit.count("edge.resource.runtime_control_requested") == 3, audit
    assert audit.count("edge.resource.runtime_control_phase_completed") == 4, audit
