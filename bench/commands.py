"""One command to a whole fleet: POST /api/v1/commands until every execution is listed.

Run: .venv/bin/python -m bench.commands [--nodes 1000 10000] [--clusters 4] [--url DATABASE_URL]
Per fleet size, in a fresh schema of the local PostgreSQL `test` database (dropped afterwards):
registers the nodes through the write path in large transactions (not measured), starts a real
`edge-admin serve` process on that schema, and times POST /api/v1/commands (targeting every
node) until GET /api/v1/command_executions?command_id=... lists them all. It then pages through
the list to show each execution is there, stops the server, and times the same command once
more in this process, split into resolve / decide+save / read-model catch-up.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg

from application.clusters import CreateCluster
from application.commands import CreateCommand
from application.enrollment_keys import IssueEnrollmentKey
from application.relay import PUBLIC_TOPICS
from application.write_path import UnitOfWork
from domain.cluster import Cluster
from domain.node import IdType, Node
from domain.targeting import Targeting, TargetType
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from projections.query import Cond, ListQuery
from projections.targets import resolve

BASE = "postgresql://postgres@127.0.0.1:5432/test"
API_KEY = "bench-commands-api-key-0123456789"
SEED_BATCH = 500  # nodes per registration transaction
SCRIPT = "uptime\ndf -h /"
POST_TIMEOUT = 60.0


# --stock: eventsourcing's own recorder (it hangs on saves above ~4 MB: adapters/pg_recorder.py).
STOCK = {"EDGE_APPLICATION_RECORDER_TOPIC": "eventsourcing.postgres:PostgresApplicationRecorder"}
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figures:
    post: float
    visible: float
    listed: int
    paged: int
    paging: float


def services_for(url: str, **overrides: Any) -> Services:
    return build_services(Settings.from_env({"DATABASE_URL": url, "API_KEY": API_KEY},
                                            **overrides))


# --- seeding (not measured) -----------------------------------------------------------------
def seed(url: str, nodes: int, clusters: int) -> float:
    """Registers `nodes` nodes over `clusters` clusters, as enrollment would, 500 per save."""
    started = time.perf_counter()
    services = services_for(url)
    services.start()
    try:
        homes = []
        for i in range(clusters):
            name = f"bench-{i}"
            cluster_id = services.clusters.create(CreateCluster(name=name))
            key_id = services.enrollment_keys.issue(name, IssueEnrollmentKey(uses_remaining=None))
            homes.append((cluster_id, key_id))
        for batch, start in enumerate(range(0, nodes, SEED_BATCH)):
            cluster_id, key_id = homes[batch % clusters]
            count = min(SEED_BATCH, nodes - start)
            services.writes.run(partial(_register, cluster_id=cluster_id, key_id=key_id,
                                        count=count))
    finally:
        services.close()
    return time.perf_counter() - started


def _register(uow: UnitOfWork, cluster_id: UUID, key_id: UUID, count: int) -> None:
    cluster = uow.get(Cluster, cluster_id, "cluster")
    for _ in range(count):
        node_id = uuid.uuid4()
        cluster.admit(node_id)
        credentials = (secrets.token_urlsafe(32), secrets.token_urlsafe(18))
        uow.add(Node.register(node_id, cluster.id, cluster.name, IdType.RANDOM, "1.0.0", True,
                              {}, credentials, key_id, uow.now))


# --- the server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(url: str, log: Path, projector_process: bool,  # noqa: PLR0913 - plain settings
           root: Path = ROOT, *, port: int | None = None, more_env: dict[str, str] | None = None,
           serve: list[str] | None = None) -> Iterator[httpx.Client]:
    """`edge-admin serve` (and with projector_process, `edge-admin projections run` beside it:
    projections then get a core and an interpreter lock of their own), running the code under
    `root` (another checkout's, for a comparison). `more_env` adds settings (NATS, webhooks);
    `serve` replaces the serve command line (bench.soak's traced launcher)."""
    port = port or free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": url, "API_KEY": API_KEY, "HOST": "127.0.0.1", "PORT": str(port)}
    env.update({k: v for k, v in os.environ.items()
                if k.startswith(("RUN_", "WRITE_")) or k in STOCK
                or k in ("DATABASE_POOL_SIZE", "PGAPPNAME")})
    env["PYTHONPATH"] = str(root)
    env["ACCESS_LOG"] = "false"  # as the ceiling (bench/ceiling.py) runs uvicorn: no access log
    env.update(more_env or {})
    binary = str(Path(sys.executable).parent / "edge-admin")
    procs = []
    with open(log, "wb") as out:
        if projector_process:
            env["RUN_PROJECTIONS"] = "false"
            procs.append(subprocess.Popen([binary, "projections", "run"], env=env, stdout=out,
                                          stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(serve or [binary, "serve"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                          headers={"authorization": f"Bearer {API_KEY}"})
    try:
        _wait_healthy(client, procs, log)
        yield client
    finally:
        client.close()
        for proc in procs:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 15 s."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_healthy(client: httpx.Client, procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited {proc.returncode}; see {log}")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"edge-admin did not answer in 60 s; see {log}")
        time.sleep(0.1)


def relay_settled(url: str, timeout: float = 120) -> float:
    """Waits until the server's relay has published the seeded events, so the command is timed
    against an idle server (seconds waited)."""
    if os.environ.get("RUN_RELAY", "true").lower() in ("false", "0", "no"):
        return 0.0
    schema = url.rpartition("schema=")[2]
    started = time.monotonic()
    with psycopg.connect(BASE, autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            # Only published events move the relay's position (a fresh server's first event,
            # Admin.Joined, is internal: waiting for the head would wait for ever).
            top = conn.execute(f'SELECT MAX(notification_id) FROM "{schema}".edge_events '
                               "WHERE topic = ANY(%s)", (list(PUBLIC_TOPICS),))
            done = conn.execute(f'SELECT MAX(notification_id) FROM "{schema}".relay_tracking '
                                "WHERE application_name = 'relay:edge'")
            published = (top.fetchone() or (None,))[0]
            if published is None or ((done.fetchone() or (None,))[0] or 0) >= published:
                break
            time.sleep(0.2)
    return time.monotonic() - started


def over_http(client: httpx.Client, nodes: int) -> Figures:
    body = {"command_text": SCRIPT, "targeting": {"type": "all"}}
    started = time.perf_counter()
    try:
        response = client.post("/api/v1/commands", json=body, timeout=POST_TIMEOUT)
    except httpx.ReadTimeout:
        print(f"HTTP: POST /api/v1/commands did not answer within {POST_TIMEOUT:.0f}s")
        raise
    posted = time.perf_counter()
    response.raise_for_status()
    command_id = response.json()["data"]["id"]
    listed = 0
    while listed < nodes:
        page = client.get("/api/v1/command_executions",
                          params={"command_id": command_id, "page_size": 1})
        page.raise_for_status()
        listed = _total(page.json())
        if time.perf_counter() - started > 120:
            break
    visible = time.perf_counter()
    seen: set[str] = set()
    number = 1
    while True:
        page = client.get("/api/v1/command_executions",
                          params={"command_id": command_id, "page_size": 100, "page": number})
        page.raise_for_status()
        rows = page.json()["data"]
        seen.update(r["id"] for r in rows)
        if len(rows) < 100:
            break
        number += 1
    paged = time.perf_counter()
    return Figures(posted - started, visible - started, listed, len(seen), paged - visible)


def _total(payload: dict[str, Any]) -> int:
    meta = payload.get("meta", {})
    pagination = meta.get("pagination", meta)
    for key in ("total_count", "total_entries", "total"):
        if key in pagination:
            return int(pagination[key])
    raise KeyError(f"no total in {meta}")


# --- the same command in this process, phase by phase ------------------------------------------
def in_process(url: str, nodes: int) -> dict[str, float]:
    services = services_for(url)
    services.start()
    try:
        services.projector.wait_timeout = 120
        targeting = Targeting(type=TargetType.ALL)
        started = time.perf_counter()
        found = len(resolve(services.view, targeting))
        resolved = time.perf_counter()
        saved: list[float] = []
        services.writes.observers.append(lambda _: saved.append(time.perf_counter()))
        begun = time.perf_counter()
        command_id = services.commands.create(CreateCommand(SCRIPT, targeting))
        done = time.perf_counter()
        query = ListQuery((Cond("command_id", "eq", command_id),), page_size=1)
        total = services.view.query("command_executions", query).total
        counted = time.perf_counter()
    finally:
        services.close()
    assert found == nodes == total, (found, nodes, total)
    return {"resolve": resolved - started, "create": done - begun,
            "decide+save (incl. its own resolve)": saved[0] - begun,
            "read-model catch-up": done - saved[0], "count query": counted - done}


# --- driver ----------------------------------------------------------------------------------
def run(url: str, nodes: int, args: argparse.Namespace) -> None:
    print(f"\n== {nodes:,} nodes in {args.clusters} cluster(s) ==")
    took = seed(url, nodes, args.clusters)
    print(f"seeded {nodes:,} nodes in {took:.1f}s (not measured)")
    with server(url, args.log, args.projector_process) as client:
        settled = relay_settled(url)
        print(f"relay caught up with the seeded events {settled:.1f}s after start (not measured)")
        figures = over_http(client, nodes)
    print(f"HTTP: POST /api/v1/commands answered in {figures.post:.3f}s; all "
          f"{figures.listed:,} executions listed {figures.visible:.3f}s after the POST "
          f"(goal: < 2 s for 10,000)")
    print(f"HTTP: paged through {figures.paged:,} distinct executions (100 per page) "
          f"in {figures.paging:.2f}s")
    if args.stock:  # a hung save in this process could not be interrupted
        return
    phases = in_process(url, nodes)
    print("in-process, same command again: " + ", ".join(
        f"{name} {seconds:.3f}s" for name, seconds in phases.items()))


@contextmanager
def fresh_schema(prefix: str = "bench_") -> Iterator[str]:
    schema = prefix + uuid.uuid4().hex[:8]
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{BASE}?schema={schema}"
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="DATABASE_URL (default: fresh schema per size)")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-commands-serve.log"))
    parser.add_argument("--projector-process", action="store_true",
                        help="run projections in a process of their own beside serve")
    parser.add_argument("--stock", action="store_true",
                        help="keep eventsourcing's pipelined insert (hangs from ~7,000 nodes)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.stock:
        os.environ.update(STOCK)
        print("event inserts: eventsourcing's stock recorder (hangs above ~7,000 nodes)")
    print(f"{os.cpu_count()} CPUs; server log: {args.log}")
    for nodes in args.nodes:
        if args.url:
            run(args.url, nodes, args)
            continue
        with fresh_schema() as url:
            run(url, nodes, args)


if __name__ == "__main__":
    main()
