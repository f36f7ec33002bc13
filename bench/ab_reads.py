"""Read path A/B on a shared, noisy machine: this checkout against a base commit, side by side.

Run: .venv/bin/python -m bench.ab_reads [--base main] [--rounds 5] [--seconds 3] [--clients 64]
                                        [--more-nodes 5000]
The ceiling (bench/ceiling.py), `edge-admin serve` running the code of `--base` (exported with
`git archive` into a temporary folder) and `edge-admin serve` running this checkout start at
once, each on a fresh schema with 30 registered nodes (and --more-nodes beside them, the
fleet a list counts). Every round drives the ceiling's GET,
then the workloads (GET /api/v1/nodes/{id}, GET /api/v1/nodes?page_size=20, commands,
enrollments, heartbeats) on both servers (their order alternates). Each figure is divided by the
ceiling's GET of the same round; the table shows the median over the rounds of those ratios,
the median absolute figures beside them, and the CPU each request cost the serve process and
its PostgreSQL backends (from /proc, over each wrk run): on a machine shared with other work,
CPU per request moves less than requests/s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench import wrk
from bench.ab import Key, Result, print_medians
from bench.commands import API_KEY, ROOT, fresh_schema, relay_settled, server
from bench.commands import seed as seed_fleet
from bench.profile_write import backends, cpu_seconds, pids_of, seed, serve_pid
from bench.suite import ceiling_server, load


def export(commit: str, into: Path) -> Path:
    """The tree of `commit` in a folder (no worktree, no checkout of ours touched)."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Ours:
    """A started serve with 30 nodes (and `more`, registered beside the serve: a fleet's
    size for lists to count), and the processes whose CPU a request costs."""

    def __init__(self, stack: ExitStack, root: Path, log: Path, more: int = 0) -> None:
        self.app_name = f"ab-reads-{uuid.uuid4().hex[:8]}"
        os.environ["PGAPPNAME"] = self.app_name
        url = stack.enter_context(fresh_schema())
        self.client = stack.enter_context(server(url, log, False, root))
        relay_settled(url)
        self.ids = seed(client=self.client, nodes=30)
        if more:
            seed_fleet(url, more, 1)
        self.client.post("/api/v1/clusters", json={"name": "ab"}).raise_for_status()
        nodes = self.client.get("/api/v1/nodes", params={"page_size": 100}).json()["data"]
        self.tokens = [n["api_token"] for n in nodes]
        self.key = self.client.post("/api/v1/clusters/ab/enrollment_keys",
                                    json={"uses_remaining": None}).json()["data"]["key"]
        self.pid = serve_pid(int(str(self.client.base_url).rsplit(":", 1)[1].strip("/")))

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: the serve process, and its PostgreSQL backends now alive."""
        return cpu_seconds(self.pid), sum(map(cpu_seconds, backends(self.app_name)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="main", help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[64])
    parser.add_argument("--more-nodes", type=int, default=0,
                        help="nodes registered beside the 30 (lists count them all)")
    parser.add_argument("--workloads", nargs="+",
                        choices=["get", "list", "command", "register", "heartbeat", "poll",
                                 "metrics", "host"],
                        default=["get", "list"], help="command: POST /api/v1/commands, one "
                        "node; register: POST /agent/v1/enroll, a random node; heartbeat: POST "
                        "/agent/v1/heartbeat, each with a node's token; poll: POST /agent/v1/work "
                        "with wait_seconds 0, each with a node's token; metrics: POST "
                        "/agent/v1/metrics, each with a node's token; host: POST /agent/v1/host, "
                        "unchanged, each with a node's token")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not wrk.available():
        sys.exit("bench.ab_reads drives the servers with wrk: apt-get install wrk")
    os.environ["WRITE_GROUP_COMMIT"] = "true"
    runs: dict[Key, list[Result]] = {}
    ratios: dict[Key, list[tuple[float, ...]]] = {}
    body = json.dumps({"n": 1})
    with ExitStack() as stack:
        base_root = export(args.base, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        ceiling = stack.enter_context(ceiling_server(stack.enter_context(fresh_schema())))
        rows = [ceiling.post("/rows", content=body).json()["data"]["id"] for _ in range(200)]
        servers = {name: Ours(stack, root, Path(f"/tmp/bench-ab-reads-{name[:4]}.log"),
                              args.more_nodes)
                   for name, root in ((f"base {args.base}", base_root), ("this", ROOT))}
        port = str(ceiling.base_url).rsplit(":", 1)[1].strip("/")
        ceiling_pid = pids_of(f"--port {port}", "python")[0]
        names = list(servers)
        for round_ in range(args.rounds):
            for clients in args.clients:
                spent = cpu_seconds(ceiling_pid)
                base = wrk.run(str(ceiling.base_url),
                               wrk.script(API_KEY, "GET", "/rows/{id}", ids=rows),
                               clients, args.seconds)
                base["server_ms"] = ((cpu_seconds(ceiling_pid) - spent) * 1000
                                     / (base["rate"] * args.seconds or 1.0))
                runs.setdefault(("ceiling", "get", clients), []).append(base)
                for name in names[round_ % 2:] + names[:round_ % 2]:
                    ours = servers[name]
                    for workload in args.workloads:
                        before = ours.cpu()
                        ids = (ours.tokens if workload in ("heartbeat", "poll", "metrics",
                                                           "host") else ours.ids)
                        got = load(ours.client, workload, clients, args.seconds, ids=ids,
                                   key=ours.key)
                        after, served = ours.cpu(), got["rate"] * args.seconds or 1.0
                        got["server_ms"] = (after[0] - before[0]) * 1000 / served
                        got["pg_ms"] = (after[1] - before[1]) * 1000 / served
                        runs.setdefault((name, workload, clients), []).append(got)
                        if got["rate"] and base["rate"]:
                            ratios.setdefault((name, workload, clients), []).append(
                                (got["rate"] / base["rate"],))
            print(f"round {round_ + 1} of {args.rounds} done")
    print_medians(runs, ratios, f"{args.rounds} rounds of {args.seconds:g} s per workload; "
                  "medians; x: req/s over the ceiling's GET of the same round",
                  (("req/s x", 9),), (("CPU ms/req: serve", 19, "server_ms", ".3f"),
                                      ("PostgreSQL", 11, "pg_ms", ".3f")))


if __name__ == "__main__":
    main()
