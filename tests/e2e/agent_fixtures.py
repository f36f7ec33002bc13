"""Real `edge-admin` and `edge-agent` processes for the end-to-end tests, and the fixtures that
start them. The agent and podman tests all start their admin and agents this way, so how a
process is started, waited for, logged and killed at the end is written once. Every wait has a
deadline and every child process is killed at the end, whatever happens.

Fixtures: `agents`, `own_admin` and `children` (registered by tests/e2e/conftest.py); a module
names its `admin` with `admin = module_admin(...)` or `admin = in_process_admin`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import pytest
import uvicorn

from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from entrypoints.app import create_app
from entrypoints.bootstrap import build_services
from tests.conftest import PG_BASE, make_settings, pg_schema
from tests.contract import HOOKS
from tests.e2e.podman_harness import Engine

T = TypeVar("T")
BIN = Path(sys.executable).parent
API_KEY = "agent-e2e-api-key-0123456789"
DEADLINE = 30.0
LIVENESS = {"HEARTBEAT_INTERVAL_SECONDS": "0.5", "NODE_UNHEALTHY_AFTER_SECONDS": "1.5",
            "NODE_UNREACHABLE_AFTER_SECONDS": "3"}
# Other test runs share this machine: its load or disk must not decide a lifecycle test.
# Several agents share this machine: no SSH server unless a test asks for one on a free port.
LENIENT_CHECKS = ("--max-load-per-core", "1000", "--min-free-disk-percent", "0",
                  "--ssh-port", "0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Children:
    """Child processes with one log file each; all of them are killed by close()."""

    def __init__(self, logs: Path, peer: Children | None = None) -> None:
        self.logs, self.peer = logs, peer  # the peer's logs (the admin's) go into failures too
        self.procs: list[subprocess.Popen[bytes]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, argv: list[str], env: dict[str, str],
              preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen[bytes]:
        executable = BIN / argv[0]
        assert executable.exists(), f"{executable} missing: run `.venv/bin/pip install -e .`"
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([str(executable), *argv[1:]], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def tails(self) -> str:
        mine = "".join(f"\n--- {p.name}\n" + p.read_text()[-2500:]
                       for p in sorted(self.logs.glob("*.log")))
        return mine + (self.peer.tails() if self.peer else "")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def eventually(check: Callable[[], T | None], what: str, children: Children,
               timeout: float = DEADLINE) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout}s{children.tails()}")
        time.sleep(0.1)


class Admin:
    """`edge-admin serve` on a free port (of `host`: all interfaces where containers call it back)
    with its own SQLite file and fast liveness settings."""

    def __init__(self, children: Children, tmp: Path, host: str = "127.0.0.1") -> None:
        self.children, self.port, self.host = children, free_port(), host
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "API_KEY": API_KEY,
                    "DATABASE_URL": f"sqlite:///{tmp}/edge.sqlite3", **LIVENESS}
        self.http = httpx.Client(base_url=self.url, timeout=10, event_hooks=HOOKS,
                                 headers={"authorization": f"Bearer {API_KEY}"})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, preexec_fn: Callable[[], object] | None = None) -> None:
        argv = ["edge-admin", "serve", "--host", self.host, "--port", str(self.port)]
        proc = self.proc = self.children.spawn("admin", argv, self.env, preexec_fn)

        def healthy() -> bool:
            assert proc.poll() is None, f"edge-admin exited {proc.returncode}"
            try:
                return self.http.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        eventually(healthy, "answer from /healthz", self.children)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(15)  # uvicorn re-raises SIGTERM after its graceful shutdown: -15

    def close(self) -> None:
        self.http.close()
        self.children.close()

    def data(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()["data"]

    def new_cluster(self) -> tuple[str, str]:
        """A fresh cluster and an unlimited enrollment key blob for it."""
        name = "c-" + uuid.uuid4().hex[:10]
        self.data(self.http.post("/api/v1/clusters", json={"name": name}))
        key = self.data(self.http.post(f"/api/v1/clusters/{name}/enrollment_keys",
                                       json={"uses_remaining": None}))
        return name, str(key["key"])

    def nodes(self, cluster: str) -> dict[str, dict[str, Any]]:
        rows = self.data(self.http.get("/api/v1/nodes", params={"cluster_name": cluster,
                                                                 "page_size": 100}))
        return {row["id"]: row for row in rows}

    def transitions(self, node_id: str) -> list[tuple[str, str, str]]:
        events = self.data(self.http.get("/api/v1/events", params={
            "type": "edge.node.status_changed", "subject_id": node_id, "page_size": 100}))
        return [(e["data"]["previous_status"], e["data"]["status"], e["data"]["reason"])
                for e in events]


class Agents:
    """Starts `edge-agent` processes against one admin and waits on what the admin sees."""

    def __init__(self, children: Children, admin: Admin, tmp: Path) -> None:
        self.children, self.admin, self.tmp = children, admin, tmp

    def start(self, name: str, key: str | None, *args: str, version: str = "1.0.0",
              machine_id: str | None = None, admin_url: str | None = None,
              ) -> subprocess.Popen[bytes]:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.tmp / "home"),
               "XDG_STATE_HOME": str(self.tmp / "xdg"), "ENROLLMENT_KEY": key or "",
               "EDGE_AGENT_MACHINE_ID": machine_id or ""}
        argv = ["edge-agent", "--admin-url", admin_url or self.admin.url,
                "--agent-version", version, *LENIENT_CHECKS, *args]
        return self.children.spawn(name, argv, env)

    def persistent(self, name: str, key: str | None, machine_id: str,
                   version: str = "1.0.0") -> subprocess.Popen[bytes]:
        return self.start(name, key, "--state-dir", str(self.tmp / name), version=version,
                          machine_id=machine_id)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0  # a clean stop

    def wait(self, check: Callable[[], T | None], what: str) -> T:
        return eventually(check, what, self.children)

    def healthy(self, cluster: str, count: int) -> dict[str, dict[str, Any]]:
        def check() -> dict[str, dict[str, Any]] | None:
            nodes = self.admin.nodes(cluster)
            ok = len(nodes) == count and all(n["status"] == "healthy" for n in nodes.values())
            return nodes if ok else None

        return self.wait(check, f"{count} healthy node(s) in {cluster}")

    def status(self, cluster: str, node_id: str, status: str) -> None:
        self.wait(lambda: self.admin.nodes(cluster).get(node_id, {}).get("status") == status,
                  f"node {node_id} {status}")


class InProcessAdmin:
    """The admin's ASGI app on uvicorn in a thread, so the test can call the resource services
    (no HTTP routes for them yet) on the very store the agent's reports reach."""

    def __init__(self, port: int) -> None:
        self.services = build_services(make_settings(
            "memory://", port=port, heartbeat_interval=0.5, placement_snapshot=0))
        config = uvicorn.Config(create_app(self.services.settings, self.services),
                                host="127.0.0.1", port=port, log_config=None,
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "admin not up"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "the admin did not stop"


def enroll_agent(admin: InProcessAdmin, children: Children, engine: Engine, home: Path
                 ) -> UUID:
    """A real `edge-agent` running containers on `engine`, enrolled in a new cluster `edge`;
    its node, once the admin has its host profile."""
    services = admin.services
    services.clusters.create(CreateCluster(name="edge"))
    key_id = services.enrollment_keys.issue("edge", IssueEnrollmentKey())
    blob = services.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ENROLLMENT_KEY": blob}
    children.spawn("agent", [
        "edge-agent", "--admin-url", f"http://127.0.0.1:{services.settings.port}",
        *LENIENT_CHECKS, "--docker-url", engine.url, "--public-ip", "127.0.0.1",
        "--cpu-units", "2048", "--memory-mb", "512", "--metrics-interval", "0",
        "--telemetry-interval", "1"], env)

    def profiled() -> UUID | None:
        rows = services.view.select("hosts", {})
        return next((r["node_id"] for r in rows if r["cpu_units"] == 2048), None)

    return eventually(profiled, "the agent's host profile", children)


# Commands are handed out and noticed lost within a second or two, not the defaults' minutes.
FAST = {"SCHEDULER_INTERVAL_SECONDS": "0.2", "AGENT_POLL_RECHECK_SECONDS": "1",
        "EXECUTION_UNREACHABLE_GRACE_SECONDS": "2"}


@contextlib.contextmanager
def started_admin(tmp: Path, **settings: str) -> Iterator[Admin]:
    """`edge-admin serve` on a SQLite file in `tmp` (unless `settings` name another
    DATABASE_URL), with `settings` added to its environment; closed afterwards."""
    server = Admin(Children(tmp / "logs"), tmp)
    server.env.update(settings)
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def pg_admin(tmp: Path, **settings: str) -> Iterator[Admin]:
    """`edge-admin serve` on a fresh PostgreSQL schema, dropped afterwards, with FAST commands
    unless `settings` say otherwise."""
    with pg_schema() as schema, started_admin(
            tmp, **{"DATABASE_URL": f"{PG_BASE}?schema={schema}", **FAST, **settings}) as server:
        yield server


def module_admin(postgres: bool = False, **settings: str) -> Any:
    """A module's `admin` fixture, one `edge-admin serve` for all its tests (on a fresh
    PostgreSQL schema with FAST commands, or on SQLite), with `settings` in its environment:
    `admin = module_admin(...)` in the module."""
    start = pg_admin if postgres else started_admin

    @pytest.fixture(scope="module")
    def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
        with start(tmp_path_factory.mktemp("admin"), **settings) as server:
            yield server

    return admin


@contextlib.contextmanager
def agents_of(admin: Admin, tmp: Path) -> Iterator[Agents]:
    """Agents for `admin`, killed at the end; their logs and the admin's are printed, which
    pytest shows when the test failed."""
    children = Children(tmp / "logs", peer=admin.children)
    try:
        yield Agents(children, admin, tmp)
    finally:
        children.close()
        print(children.tails())


@pytest.fixture
def agents(admin: Admin, tmp_path: Path) -> Iterator[Agents]:
    with agents_of(admin, tmp_path) as running:
        yield running


@pytest.fixture
def own_admin(tmp_path: Path) -> Iterator[Agents]:
    """An admin of the test's own (not started yet) that it may stop, and agents for it."""
    server = Admin(Children(tmp_path / "logs"), tmp_path)
    try:
        yield Agents(server.children, server, tmp_path)
    finally:
        server.close()
        print(server.children.tails())


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """The test's own child processes, logging in tmp_path/logs, killed at its end."""
    running = Children(tmp_path / "logs")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def in_process_admin() -> Iterator[InProcessAdmin]:
    running = InProcessAdmin(free_port())
    yield running
    running.close()
