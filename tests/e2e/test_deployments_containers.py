"""Deployments end to end: a real admin, three real agents at different places running
containers through podman's Docker API, and a locally built busybox image.

A deploy from a user near one agent lands there and serves on its published port with the
injected environment; a container stops itself through ARBITRIUM_DELETE_URL; a crash is an
error with its exit code; bulk stop stops the right ones; a full fleet answers 422. An agent
killed and started again takes its running containers back; one removed meanwhile is an error.
Mengi's app hosting runs its docker image in the region asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract import HOOKS
from tests.e2e.agent_fixtures import API_KEY, BIN, LENIENT_CHECKS, Admin, Children, eventually
from tests.e2e.podman_harness import IMAGE, Engine
from tests.integration.webhook_harness import Receiver

pytestmark = pytest.mark.e2e
TOKEN = {"authorization": f"token {API_KEY}"}
PLACES = {"montreal": (45.50, -73.57), "paris": (48.86, 2.35), "tokyo": (35.68, 139.69)}
CONTINENTS = {"montreal": "North America", "paris": "Europe", "tokyo": "Asia"}
SELF_STOP = (
    'u=${ARBITRIUM_DELETE_URL#http://}; hp=${u%%/*}; p=/${u#*/}; '
    'printf "DELETE $p HTTP/1.0\\r\\nHost: $hp\\r\\nauthorization: $ARBITRIUM_DELETE_TOKEN'
    '\\r\\n\\r\\n" | nc ${hp%:*} ${hp#*:}; sleep 120'
)


class Fleet:
    """One admin on all interfaces (containers call it back) and one agent per place."""

    def __init__(self, children: Children, tmp: Path, engine: Engine) -> None:
        self.children, self.tmp, self.engine = children, tmp, engine
        self.server = Admin(children, tmp, host="0.0.0.0")
        self.port = self.server.port
        self.server.env = {
            "PATH": os.environ["PATH"], "HOME": str(tmp), "API_KEY": API_KEY,
            "DATABASE_URL": f"sqlite:///{tmp}/edge.sqlite3", "DEFAULT_CLUSTER_NAME": "main",
            "PUBLIC_URL": f"http://host.containers.internal:{self.port}",
            "HEARTBEAT_INTERVAL_SECONDS": "1", "SCHEDULER_INTERVAL_SECONDS": "0.5",
            "WEBHOOK_ALLOW_PRIVATE_IPS": "true"}  # the hook receiver is on loopback
        # Its own client, without the admin's key: each request says which credentials it uses.
        self.http = httpx.Client(base_url=self.server.url, timeout=15, event_hooks=HOOKS)
        self.server.start()
        self.api = {"Authorization": f"Bearer {API_KEY}"}
        self.agents: dict[str, tuple[list[str], dict[str, str], subprocess.Popen[bytes]]] = {}

    def start_agents(self, keeps_identity: str | None = None) -> dict[str, str]:
        """keeps_identity: the one city whose agent keeps its node across restarts (persistent
        identities come from the machine id, so only one agent per machine can have one)."""
        key = self.http.post("/api/v1/clusters/main/enrollment_keys", headers=self.api,
                             json={"uses_remaining": None}).json()["data"]["key"]
        for city, (lat, lon) in PLACES.items():
            env = {"PATH": os.environ["PATH"], "HOME": str(self.tmp / city),
                   "ENROLLMENT_KEY": key}
            argv = [str(BIN / "edge-agent"), "--admin-url", f"http://127.0.0.1:{self.port}",
                    *(("--id-type", "persistent", "--state-dir", str(self.tmp / city))
                      if city == keeps_identity else ("--id-type", "random")),
                    *LENIENT_CHECKS, "--docker-url", self.engine.url,
                    "--public-ip", "127.0.0.1", "--city", city, "--continent",
                    CONTINENTS[city], "--latitude", str(lat),
                    "--longitude", str(lon), "--cpu-units", "2048", "--memory-mb", "512",
                    "--metrics-interval", "0", "--telemetry-interval", "1"]
            self.agents[city] = (argv, env, self.children.spawn(city, argv, env))

        def profiled() -> dict[str, str] | None:
            rows = self.http.get("/api/v1/hosts", headers=self.api).json()["data"]
            found = {r["location"].get("city"): r["node_id"] for r in rows
                     if r["cpu_units"] == 2048 and r["status"] == "healthy"}
            return found if len(found) == 3 else None

        return eventually(profiled, "three host profiles", self.children)

    def version(self, name: str, command: str | None = None, cpu: int = 1024) -> None:
        body: dict[str, Any] = {
            "name": name, "image": IMAGE, "cpu_units": cpu, "memory_mb": 64,
            "ports": [{"port": 8080, "protocol": "HTTP", "name": "web"}],
            "env": [{"key": "GREETING", "value": "hi", "is_hidden": False},
                    {"key": "SECRET", "value": "s3cret", "is_hidden": True}]}
        if command:
            body.update(command="/bin/sh", arguments=f"-c '{command}'")
        created = self.http.post("/api/v1/apps/game/versions", headers=self.api, json=body)
        assert created.status_code == 201, created.text

    def deploy(self, version: str, city: str, status: int = 202, **extra: Any) -> str:
        return str(self.deploy_answer(version, city, status, **extra)["request_id"])

    def deploy_answer(self, version: str, city: str, status: int = 202,
                      **extra: Any) -> dict[str, Any]:
        lat, lon = PLACES[city]
        body = {"application": "game", "version": version, "users": [
            {"user_type": "geo_coordinates", "user_data": {"latitude": lat + 0.5,
                                                           "longitude": lon}}], **extra}
        answer = self.http.post("/v2/deployments", headers=TOKEN, json=body)
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    def get(self, path: str) -> dict[str, Any]:
        answer = self.http.get(path, headers=TOKEN)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def status(self, request_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/v1/status/{request_id}", headers=TOKEN)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def reaches(self, request_id: str, status: str) -> dict[str, Any]:
        return eventually(lambda: (s := self.status(request_id))["current_status"] == status
                          and s, f"{request_id} {status}", self.children, timeout=60)


@contextlib.contextmanager
def fleet_of(tmp: Path, engine: Engine) -> Iterator[Fleet]:
    """A started Fleet (its agents not yet), every process of it killed at the end."""
    children = Children(tmp / "logs")
    running = None
    try:
        running = Fleet(children, tmp, engine)
        yield running
    finally:
        if running is not None:
            running.http.close()
            running.server.http.close()
        children.close()


@pytest.fixture
def fleet(tmp_path: Path, engine: Engine) -> Iterator[Fleet]:
    with fleet_of(tmp_path, engine) as running:
        yield running


def fetch(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                return str(page.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_deployments_run_as_real_containers_near_their_users(fleet: Fleet) -> None:
    hosts = fleet.start_agents()
    assert fleet.http.post("/api/v1/apps", headers=fleet.api, json={"name": "game"}).is_success
    fleet.version("v1", "echo serving $ARBITRIUM_REQUEST_ID; env > /www/env.txt;"
                  " exec httpd -f -p 8080 -h /www")
    fleet.version("selfstop", SELF_STOP)
    fleet.version("crash", "echo boom; exit 3")

    with Receiver().running() as hooks:
        answer = fleet.deploy_answer("v1", "paris", tags=["blue"],
                                     webhook_on_ready={"url": hooks.url("/ready")},
                                     webhook_on_terminated={"url": hooks.url("/terminated")})
        hooks.secret = answer["webhook_secret"].encode()
        served = answer["request_id"]
        _check_deployment(fleet, hosts, hooks, served)


def _hook(fleet: Fleet, hooks: Receiver, path: str, served: str) -> None:
    [call] = eventually(lambda: hooks.at(path), f"the {path} webhook", fleet.children)
    assert call.standard_ok and call.edge_ok  # signed with the secret the 202 gave
    message = json.loads(call.body)
    assert message["type"] == f"edge.deployment.{path[1:]}"
    assert message["data"]["request_id"] == served


def _check_deployment(fleet: Fleet, hosts: dict[str, str], hooks: Receiver, served: str) -> None:
    ready = fleet.reaches(served, "Status.READY")
    _hook(fleet, hooks, "/ready", served)
    assert ready["location"]["city"] == "paris"
    link = ready["ports"]["web"]["link"]
    assert link.startswith("http://127.0.0.1:") and ready["ports"]["web"]["internal"] == 8080
    assert fetch(link + "/index.html") == "hello from the edge\n"
    env = fetch(link + "/env.txt")
    assert "GREETING=hi" in env and "SECRET=s3cret" in env
    assert f"ARBITRIUM_REQUEST_ID={served}" in env and "ARBITRIUM_DELETE_TOKEN=" in env
    node = fleet.http.get(f"/api/v1/nodes/{hosts['paris']}/host", headers=fleet.api).json()
    assert node["data"]["allocated_cpu_units"] == 1024
    logs = eventually(lambda: (r := fleet.get(f"/v1/deployment/{served}/container-logs"))
                      ["logs"] and r, "container logs", fleet.children)
    assert f"serving {served}" in logs["logs"] and logs["crash_logs"] is None
    raw = eventually(lambda: (m := fleet.get(f"/v1/metrics/deployment/{served}?raw=true"))
                     ["mem"]["datasets"] and m, "container metrics", fleet.children)
    assert int(raw["mem"]["datasets"][-1]) > 0
    assert set(raw["total"]) == {"receive_total", "transmit_total", "disk_read_total",
                                 "disk_write_total"}

    quitter = fleet.deploy("selfstop", "tokyo")
    ended = fleet.reaches(quitter, "Status.TERMINATED")
    assert ended["location"]["city"] == "tokyo" and ended["removal_time"]

    crashed = fleet.deploy("crash", "montreal")
    failed = fleet.reaches(crashed, "Status.ERROR")
    assert failed["error"] and "code 3" in failed["error_detail"]
    crash = eventually(lambda: (r := fleet.get(f"/v1/deployment/{crashed}/container-logs"))
                       ["crash_logs"] and r, "crash logs", fleet.children)
    assert "boom" in crash["crash_logs"] and crash["crash_data"]["exit_code"] == 3

    # Room: each host has 2048 units; paris holds one 1024 deployment.
    extra = [fleet.deploy("v1", "paris") for _ in range(5)]  # the five slots left
    for request_id in extra:
        fleet.reaches(request_id, "Status.READY")
    full = fleet.http.post("/v2/deployments", headers=TOKEN, json={
        "application": "game", "version": "v1", "users": [
            {"user_type": "geo_coordinates", "user_data": {"latitude": 0, "longitude": 0}}]})
    assert full.status_code == 422, full.text
    assert full.json()["message"] == "Couldn't Allocate Server"
    assert fleet.status(full.json()["request_id"])["current_status"] == "Status.ERROR"

    stopped = fleet.http.post("/v1/deployments/bulk-stop", headers=TOKEN, json={
        "filters": [{"field": "tags", "values": ["blue"], "filter_type": "any"}]})
    assert stopped.json() == {"processable": [{"request_id": served}]}
    fleet.reaches(served, "Status.TERMINATED")
    gone = fleet.http.get(f"/v1/deployment/{served}/container-logs", headers=TOKEN)
    assert gone.status_code == 404
    _hook(fleet, hooks, "/terminated", served)
    for request_id in extra:
        assert fleet.status(request_id)["current_status"] == "Status.READY"


def test_a_restarted_agent_takes_its_running_containers_back(fleet: Fleet) -> None:
    hosts = fleet.start_agents(keeps_identity="montreal")
    assert fleet.http.post("/api/v1/apps", headers=fleet.api, json={"name": "game"}).is_success
    fleet.version("v1", "exec httpd -f -p 8080 -h /www")
    kept, removed = fleet.deploy("v1", "montreal"), fleet.deploy("v1", "montreal")
    link = fleet.reaches(kept, "Status.READY")["ports"]["web"]["link"]
    fleet.reaches(removed, "Status.READY")

    argv, env, agent = fleet.agents["montreal"]
    agent.kill()
    agent.wait(10)
    assert fetch(link + "/index.html") == "hello from the edge\n"  # it outlives its agent
    subprocess.run(["podman", "rm", "-f", f"edge-{removed}"], env=fleet.engine.env, check=True,
                   capture_output=True, timeout=60)
    fleet.children.spawn("montreal-again", argv, env)

    lost = fleet.reaches(removed, "Status.ERROR")
    assert "container is gone" in lost["error_detail"]
    node = f"/api/v1/nodes/{hosts['montreal']}/host"
    eventually(lambda: fleet.http.get(node, headers=fleet.api).json()["data"]
               ["allocated_cpu_units"] == 1024, "the lost one's room given back", fleet.children)
    assert fleet.status(kept)["current_status"] == "Status.READY"
    assert fetch(link + "/index.html") == "hello from the edge\n"

    stopped = fleet.http.delete(f"/v1/stop/{kept}", headers=TOKEN)
    assert stopped.status_code == 200, stopped.text
    fleet.reaches(kept, "Status.TERMINATED")  # the new agent stopped the container it found
    names = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=fleet.engine.env,
                           check=True, capture_output=True, text=True, timeout=60).stdout
    assert f"edge-{kept}" not in names.split()


def test_a_mengi_app_hosting_deployment_runs_in_its_region(fleet: Fleet) -> None:
    hosts = fleet.start_agents()
    answer = fleet.http.post("/deployments/app-hosting", headers=fleet.api, json={
        "deployment_name": "shop", "docker_image": IMAGE, "container_port": 8080,
        "geographic_region": "asia", "cpu_request": 0.5, "memory_request_mb": 64})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "provisioning" and body["cluster_id"] == hosts["tokyo"]
    ready = fleet.reaches(body["request_id"], "Status.READY")
    [port] = ready["ports"].values()
    assert port["internal"] == 8080
    assert fetch(port["link"] + "/index.html") == "hello from the edge\n"
    assert fleet.http.delete(f"/v1/stop/{body['request_id']}", headers=TOKEN).status_code == 200
    fleet.reaches(body["request_id"], "Status.TERMINATED")
