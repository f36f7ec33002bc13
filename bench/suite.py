"""The write-path benchmark suite, one command, one table.

Run: .venv/bin/python -m bench.suite [--seconds 5] [--clients 1 16 64]
For group commit, group commit with the read model applied by the projector thread in a second
transaction (WRITE_PROJECT_IN_COMMIT=false, the path before issue 18) and the naive path
(WRITE_GROUP_COMMIT=false: one transaction per command), each in a fresh schema of
the local PostgreSQL `test` database: starts a real `edge-admin serve`, drives it with wrk (a
separate process; `apt-get install wrk`) at each client count, and prints requests/s with
p50/p99 latency for node registrations (POST /agent/v1/enroll) and command creation
(POST /api/v1/commands to one node), then heartbeats (POST /agent/v1/heartbeat, each with a
registered node's token, no status change) and reads (list and get) once. Every write is answered
after it is durable and its read model caught up. Then, in this process: projection lag
(commit -> read model) p99 under 16 writer threads, and replay events/s.

The same run measures the ceiling (bench/ceiling.py: the same stack doing one plain durable
insert per POST and one primary-key read per GET) with the same wrk workloads, and prints each
of our figures as a ratio to it: the ratios are the goals (issue 18), not the absolute figures.
It also measures the event-sourced floor (bench/es_floor.py: that stack plus eventsourcing's own
application and recorder saving one one-event aggregate per POST, batched by one writer thread
and, apart, one save per request) and prints the floor against the ceiling and our writes
against the floor: what event sourcing itself costs, and what of the rest is ours.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from application.clusters import CreateCluster
from application.write_path import UnitOfWork
from bench import wrk
from bench.commands import (
    API_KEY,
    BASE,
    ROOT,
    free_port,
    fresh_schema,
    relay_settled,
    server,
    services_for,
)
from domain.cluster import Cluster
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from entrypoints.bootstrap import Services
from entrypoints.replay import ReplayReport, rebuild

Row = tuple[str, str, int, dict[str, Any]]


def load(  # noqa: PLR0913 - one call per table row, all plain values
    client: httpx.Client, workload: str, clients: int, seconds: float, key: str = "",
    ids: list[str] | None = None,
) -> dict[str, Any]:
    lua = {
        "register": lambda: wrk.script(API_KEY, "POST", "/agent/v1/enroll", json.dumps(
            {"enrollment_key": key, "id_type": "random", "version": "1.0.0"})),
        "command": lambda: wrk.script(API_KEY, "POST", "/api/v1/commands", json.dumps(
            {"command_text": "uptime", "targeting": {"type": "nodes", "node_ids": ["{id}"]}}),
            ids),
        "list": lambda: wrk.script(API_KEY, "GET", "/api/v1/nodes?page_size=20"),
        "get": lambda: wrk.script(API_KEY, "GET", "/api/v1/nodes/{id}", ids=ids),
        # ids: the nodes' api tokens
        "heartbeat": lambda: wrk.script(API_KEY, "POST", "/agent/v1/heartbeat",
                                        json.dumps({"status": "healthy"}), ids, bearer_ids=True),
        # An idle agent's look for work (ids: tokens): what each connected agent costs every
        # AGENT_POLL_RECHECK_SECONDS while its long poll waits.
        "poll": lambda: wrk.script(API_KEY, "POST", "/agent/v1/work",
                                   json.dumps({"wait_seconds": 0}), ids, bearer_ids=True),
        # A node's host metrics, as its agent sends them every 15 s (ids: tokens).
        "metrics": lambda: wrk.script(API_KEY, "POST", "/agent/v1/metrics", json.dumps(
            {"host": {"cpu": {"cores": 2, "load_1m": 0.25}, "memory": {"total_bytes": 1 << 30}},
             "agent": {"commands": {"executions_total": 3}}}), ids, bearer_ids=True),
        # A hosting agent's profile, sent every 15 s; unchanged, as most are (ids: tokens).
        "host": lambda: wrk.script(API_KEY, "POST", "/agent/v1/host", json.dumps(
            {"location": {"city": "paris", "latitude": 48.86, "longitude": 2.35},
             "detected_cpu_units": 2048, "detected_memory_mb": 2048,
             "images": ["localhost/game:1", "localhost/game:2"]}), ids, bearer_ids=True),
    }[workload]()
    return wrk.run(str(client.base_url), lua, clients, seconds)


@contextmanager
def ceiling_server(schema_url: str, module: str = "bench.ceiling", *more: str
                   ) -> Iterator[httpx.Client]:
    """bench/ceiling.py (or bench/es_floor.py, which takes the schema's name) in its own
    process, on the fresh schema behind `schema_url`."""
    schema = schema_url.rsplit("schema=", 1)[1]
    port = free_port()
    where = (["--database-url", f"{BASE}?options=-csearch_path%3D{schema}"]
             if module == "bench.ceiling" else ["--schema", schema])
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), *where, *more], cwd=ROOT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited {proc.returncode}")
            try:
                client.get("/rows/00000000-0000-0000-0000-000000000000")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not answer in 30 s") from None
                time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(15)


def run_ceiling(args: argparse.Namespace) -> list[Row]:
    """The same workloads against the ceiling: write = our command's body inserted as a row."""
    rows: list[Row] = []
    body = json.dumps({"command_text": "uptime",
                       "targeting": {"type": "nodes", "node_ids": ["{id}"]}})
    with fresh_schema() as url, ceiling_server(url) as client:
        ids = [client.post("/rows", content=body).json()["data"]["id"] for _ in range(200)]
        for clients in args.clients:
            lua = wrk.script(API_KEY, "POST", "/rows", body, ids)
            rows.append(("ceiling", "write", clients,
                         wrk.run(str(client.base_url), lua, clients, args.seconds)))
        for clients in args.clients[1:]:
            lua = wrk.script(API_KEY, "GET", "/rows/{id}", ids=ids)
            rows.append(("ceiling", "get", clients,
                         wrk.run(str(client.base_url), lua, clients, args.seconds)))
    return rows


FLOORS = {"es floor": ("--batch",), "es per request": ()}  # path -> bench.es_floor's flags


def run_floor(args: argparse.Namespace) -> list[Row]:
    """The ceiling's write workload against the event-sourced floor, both ways of saving."""
    rows: list[Row] = []
    body = json.dumps({"command_text": "uptime",
                       "targeting": {"type": "nodes", "node_ids": ["{id}"]}})
    for path, flags in FLOORS.items():
        with fresh_schema() as url, ceiling_server(url, "bench.es_floor", *flags) as client:
            for clients in args.clients:
                lua = wrk.script(API_KEY, "POST", "/rows", body)
                rows.append((path, "write", clients,
                             wrk.run(str(client.base_url), lua, clients, args.seconds)))
    return rows


def print_ratios(rows: list[Row]) -> None:
    """Ours against the ceiling at the same client count: rate ratio (higher is better) and
    latency ratios (lower is better). Lists are compared with the ceiling's single-row GET."""
    table = {(mode, workload, clients): r for mode, workload, clients, r in rows}
    pairs = [(("group commit", "command"), ("ceiling", "write")),
             (("gc+projector", "command"), ("ceiling", "write")),
             (("group commit", "register"), ("ceiling", "write")),
             (("gc+projector", "register"), ("ceiling", "write")),
             (("group commit", "heartbeat"), ("ceiling", "write")),
             (("reads", "get"), ("ceiling", "get")), (("reads", "list"), ("ceiling", "get")),
             (("es floor", "write"), ("ceiling", "write")),
             (("es per request", "write"), ("ceiling", "write")),
             (("group commit", "command"), ("es floor", "write")),
             (("group commit", "register"), ("es floor", "write"))]
    print(f"{'ours / ceiling':<32}{'clients':>8}{'req/s':>9}{'p50':>9}{'p99':>9}")
    for (mode, workload), (base_mode, base_workload) in pairs:
        for clients in sorted({c for (_, _, c) in table}):
            ours = table.get((mode, workload, clients))
            base = table.get((base_mode, base_workload, clients))
            if ours is None or base is None:
                continue

            def ratio(key: str, o: dict[str, Any] = ours, b: dict[str, Any] = base) -> str:
                return f"{o[key] / b[key]:.2f}x" if o[key] and b[key] else "-"

            label = ("" if mode in ("group commit", "reads") else mode + " ") + workload
            label += " vs " + ("" if base_mode == "ceiling" else base_mode + " ") + base_workload
            print(f"{label:<32}{clients:>8}{ratio('rate'):>9}"
                  f"{ratio('p50_ms'):>9}{ratio('p99_ms'):>9}")


def node_ids(client: httpx.Client, field: str = "id") -> list[str]:
    """Up to about 2,000 nodes' ids (or another field of theirs: "api_token")."""
    ids: list[str] = []
    page = 1
    while True:
        rows = client.get("/api/v1/nodes", params={"page_size": 100, "page": page}).json()
        ids += [r[field] for r in rows["data"]]
        if len(rows["data"]) < 100 or len(ids) >= 2000:
            break
        page += 1
    return ids


MODES = {  # name -> (WRITE_GROUP_COMMIT, WRITE_PROJECT_IN_COMMIT)
    "group commit": ("true", "true"),
    "gc+projector": ("true", "false"),
    "naive": ("false", "false"),
}


def run_mode(mode: str, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    os.environ["WRITE_GROUP_COMMIT"], os.environ["WRITE_PROJECT_IN_COMMIT"] = MODES[mode]
    with fresh_schema() as url, server(url, args.log, False) as client:
        relay_settled(url)
        client.post("/api/v1/clusters", json={"name": "bench"}).raise_for_status()
        key = client.post("/api/v1/clusters/bench/enrollment_keys",
                          json={"uses_remaining": None}).json()["data"]["key"]
        for clients in args.clients:
            rows.append((mode, "register", clients,
                         load(client, "register", clients, args.seconds, key=key)))
        ids = node_ids(client)
        for clients in args.clients:
            rows.append((mode, "command", clients,
                         load(client, "command", clients, args.seconds, ids=ids)))
        if mode == "group commit":
            tokens = node_ids(client, "api_token")
            for clients in args.clients:
                rows.append((mode, "heartbeat", clients,
                             load(client, "heartbeat", clients, args.seconds, ids=tokens)))
            for workload in ("list", "get"):
                for clients in args.clients[1:]:
                    rows.append(("reads", workload, clients,
                                 load(client, workload, clients, args.seconds, ids=ids)))
    return rows


def projection_lag(
    threads: int = 16, writes: int = 100, in_commit: bool = True
) -> tuple[float, float]:
    """Commit -> read model, as each writer sees it (ms p50, p99)."""
    with fresh_schema() as url:
        services = services_for(url, write_project_in_commit=in_commit)
        services.start()
        try:
            cluster_id = services.clusters.create(CreateCluster(name="lag"))
            lags: list[float] = []
            lock = threading.Lock()

            def writer() -> None:
                for _ in range(writes):
                    def decide(uow: UnitOfWork) -> None:
                        uow.get(Cluster, cluster_id, "cluster").admit(uuid4())

                    written = services.writes.execute(decide, wait=False)
                    committed = time.perf_counter()
                    assert written.position is not None
                    services.projector.wait(written.position)
                    with lock:
                        lags.append((time.perf_counter() - committed) * 1000)

            workers = [threading.Thread(target=writer) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            lags.sort()
            return lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
        finally:
            services.close()


def replay_rate(events: int, rebuild_with: Callable[[Services], ReplayReport] = rebuild
                ) -> float:
    """Rebuilds the read models from a store holding about `events` events of a fleet's life
    (`write_replay_log`)."""
    with fresh_schema() as url:
        write_replay_log(url, events)
        replayer = services_for(url, run_projections=False)  # the rebuild is the only projector
        try:
            return rebuild_with(replayer).rate
        finally:
            replayer.close()


def write_replay_log(url: str, events: int) -> None:
    """Writes about `events` events of a fleet's life: per node, its cluster admitting it, its
    registration and two status changes (a flap), so a rebuild inserts rows, patches them and
    counts, as a real log makes it do."""
    per_node = 4
    services = services_for(url)
    services.start()
    try:
        cluster_id = services.clusters.create(CreateCluster(name="replay"))
        nodes_per_batch = 125  # 500 events a transaction
        for _ in range(events // (per_node * nodes_per_batch)):
            def decide(uow: UnitOfWork) -> None:
                cluster = uow.get(Cluster, cluster_id, "cluster")
                for _ in range(nodes_per_batch):
                    node_id = uuid4()
                    cluster.admit(node_id)
                    node = Node.register(
                        node_id, cluster.id, cluster.name, IdType.RANDOM, "1.0.0", True,
                        {}, ("token", "password"), uuid4(), uow.now)
                    node.change_status(NodeStatus.UNHEALTHY, "bench flap", uow.now)
                    node.change_status(NodeStatus.HEALTHY, "bench flap", uow.now)
                    uow.add(node)

            services.writes.run(decide)
    finally:
        services.close()


def print_rows(rows: list[Row]) -> None:
    print(f"{'path':<16}{'workload':<10}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}")
    for mode, workload, clients, r in rows:
        p50 = f"{r['p50_ms']:.1f}" if r["p50_ms"] is not None else "-"
        p99 = f"{r['p99_ms']:.1f}" if r["p99_ms"] is not None else "-"
        print(f"{mode:<16}{workload:<10}{clients:>8}{r['rate']:>10,.0f}{p50:>9}{p99:>9}"
              f"{r['errors']:>8}")
        if r["first_error"]:
            print(f"    {r['first_error'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-suite-serve.log"))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not wrk.available():
        sys.exit("bench.suite drives the server with wrk: apt-get install wrk")
    print(f"{os.cpu_count()} CPUs, PostgreSQL; server log: {args.log}")
    rows = run_ceiling(args) + run_floor(args)
    rows += [row for mode in args.modes for row in run_mode(mode, args)]
    print_rows(rows)
    print_ratios(rows)
    for in_commit in (True, False):
        p50, p99 = projection_lag(in_commit=in_commit)
        print(f"projection lag (commit -> read model), 16 writer threads, "
              f"WRITE_PROJECT_IN_COMMIT={str(in_commit).lower()}: p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms")
    print(f"replay: {replay_rate(50_000):,.0f} events/s (50,000 events)")


if __name__ == "__main__":
    main()
