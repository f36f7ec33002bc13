"""A resource's runtime stop, start and restart on real containers, every step through HTTP.

A real edge-agent process runs busybox httpd on podman for an admin served by uvicorn in this
process (responses checked against the OpenAPI document by tests/contract.py): deploy →
runtime/stop → the port no longer serves and the state is stopped (and stays so across agent
polls) → start → the same container serves again → restart → serves; the decisions and
outcomes are in the audit. Skipped where podman is absent (the `engine` fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.agent_fixtures import Children, InProcessAdmin, enroll_agent, eventually
from tests.e2e.podman_harness import IMAGE, Engine
from tests.e2e.test_agent_health_containers import containers, fetch
from tests.e2e.test_appaloft_containers import Api, admin, api, health

pytestmark = pytest.mark.e2e
PAGE = b"hello from the edge\n"
SECRET = "s3cr3t-never-logged"
__all__ = ["admin", "api"]  # the fixtures, used by name




def serves(link: str) -> bool:
    try:
        return fetch(f"{link}/index.html") == PAGE
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_stop_start_restart_a_resource_runtime_on_podman(
        engine: Engine, admin: InProcessAdmin, children: Children, api: Api, tmp_path: Path
) -> None:
    runtime_workflow(api, engine, admin, children, tmp_path)


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
        "-c", "echo serving on 8080; echo token=$API_TOKEN >&2;"
        " (while true; do echo tick $(date +%s); sleep 1; done) &"
        " exec /bin/httpd -f -p 8080 -h /www"]}})
    api.post(f"{base}/secrets", {"key": "API_TOKEN", "value": SECRET})
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
    assert done["status"] == "succeeded", (done, children.tails())
    assert all(p["status"] == "succeeded" for p in done["phases"]), done
    return done


def runtime_workflow(api: Api, engine: Engine, admin: InProcessAdmin, children: Children,
                     tmp: Path) -> None:
    resource, deployment, link = deploy(api, admin, children, engine, tmp)
    assert serves(link)
    runtime_logs(api, resource, deployment, children)

    stopped = control(api, resource, "stop", children)
    assert (stopped["runtimeState"], stopped["deploymentId"]) == ("stopped", deployment)
    assert not serves(link)
    assert [c for c in containers(engine) if c.endswith("-paused")], "kept, not removed"
    restart_agent(children, tmp)  # it finds the container stopped and keeps it so
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


def restart_agent(children: Children, home: Path) -> None:
    def argv(proc: subprocess.Popen[bytes]) -> list[str]:
        return [str(a) for a in cast(Sequence[object], proc.args)]

    [agent] = [p for p in children.procs if "edge-agent" in argv(p)[0]]
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(15) == 0
    children.procs.remove(agent)
    children.spawn("agent", ["edge-agent", *argv(agent)[1:]],
                   {"PATH": os.environ["PATH"], "HOME": str(home), "ENROLLMENT_KEY": ""})


def runtime_logs(api: Api, resource: str, deployment: str, children: Children) -> None:
    """The container's own lines reach the admin while it runs, secrets masked; the stream
    resumes after a cursor with lines written since."""
    def ticked() -> list[dict[str, Any]] | None:
        logs: list[dict[str, Any]] = api.get(f"/resources/{resource}/runtime-logs")["logs"]
        return logs if sum(e["message"].startswith("tick") for e in logs) >= 2 else None

    logs = eventually(ticked, "runtime logs", children, 30)
    lines = [(e["stream"], e["message"], e["masked"]) for e in logs]
    assert ("stdout", "serving on 8080", False) in lines, lines
    assert ("stderr", "token=****", True) in lines, lines
    assert all(e["deploymentId"] == deployment and e["runtimeKind"] == "container"
               for e in logs)
    assert [e["sequence"] for e in logs] == sorted(e["sequence"] for e in logs)
    cursor = logs[-1]["cursor"]
    with api.http.stream("GET", f"/resources/{resource}/runtime-logs/stream",
                         params={"cursor": cursor}, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                entry = json.loads(line.removeprefix("data: "))
                assert entry["sequence"] > int(cursor)
                if entry["message"].startswith("tick"):
                    break
    everything = api.http.get(f"/resources/{resource}/runtime-logs",
                              params={"tailLines": 1000}).text
    assert SECRET not in everything
