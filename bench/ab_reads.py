"""Read path A/B on a shared, noisy machine: this checkout against a base commit, side by side.

Run: .venv/bin/python -m bench.ab_reads [--base main] [--rounds 5] [--seconds 3] [--clients 64]
The ceiling (bench/ceiling.py), `edge-admin serve` running the code of `--base` (exported with
`git archive` into a temporary folder) and `edge-admin serve` running this checkout start at
once, each on a fresh schema with 30 registered nodes. Every round drives the ceiling's GET,
then GET /api/v1/nodes/{id} and GET /api/v1/nodes?page_size=20 on both servers (their order
alternates). Each figure is divided by the ceiling's GET of the same round; the table shows the
median over the rounds of those ratios, and the median absolute figures beside them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.commands import API_KEY, ROOT, fresh_schema, relay_settled, server
from bench.profile_write import seed
from bench.suite import ceiling_server, load

Result = dict[str, Any]


def export(commit: str, into: Path) -> Path:
    """The tree of `commit` in a folder (no worktree, no checkout of ours touched)."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def ours(stack: ExitStack, root: Path, log: Path) -> tuple[httpx.Client, list[str]]:
    url = stack.enter_context(fresh_schema())
    client = stack.enter_context(server(url, log, False, root))
    relay_settled(url)
    return client, seed(client, 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="main", help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[64])
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not wrk.available():
        sys.exit("bench.ab_reads drives the servers with wrk: apt-get install wrk")
    os.environ["WRITE_GROUP_COMMIT"] = "true"
    runs: dict[tuple[str, str, int], list[Result]] = {}
    ratios: dict[tuple[str, str, int], list[float]] = {}
    body = json.dumps({"n": 1})
    with ExitStack() as stack:
        base_root = export(args.base, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        ceiling = stack.enter_context(ceiling_server(stack.enter_context(fresh_schema())))
        rows = [ceiling.post("/rows", content=body).json()["data"]["id"] for _ in range(200)]
        servers = {name: ours(stack, root, Path(f"/tmp/bench-ab-reads-{name}.log"))
                   for name, root in ((f"base {args.base}", base_root), ("this", ROOT))}
        names = list(servers)
        for round_ in range(args.rounds):
            for clients in args.clients:
                base = wrk.run(str(ceiling.base_url),
                               wrk.script(API_KEY, "GET", "/rows/{id}", ids=rows),
                               clients, args.seconds)
                runs.setdefault(("ceiling", "get", clients), []).append(base)
                for name in names[round_ % 2:] + names[:round_ % 2]:
                    client, ids = servers[name]
                    for workload in ("get", "list"):
                        got = load(client, workload, clients, args.seconds, ids=ids)
                        runs.setdefault((name, workload, clients), []).append(got)
                        if got["rate"] and base["rate"]:
                            ratios.setdefault((name, workload, clients), []).append(
                                got["rate"] / base["rate"])
            print(f"round {round_ + 1} of {args.rounds} done")
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.seconds:g} s per workload; "
          "medians; x: req/s over the ceiling's GET of the same round")
    print(f"{'server':<14}{'workload':<10}{'clients':>8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'errors':>7}{'req/s x':>9}")
    for (name, workload, clients), results in sorted(runs.items()):
        def med(key: str, rs: list[Result] = results) -> float:
            return statistics.median(r[key] or 0.0 for r in rs)

        errors = sum(r["errors"] for r in results)
        line = (f"{name:<14}{workload:<10}{clients:>8}{med('rate'):>8,.0f}{med('p50_ms'):>8.1f}"
                f"{med('p99_ms'):>8.1f}{errors:>7}")
        paired = ratios.get((name, workload, clients))
        if paired:
            line += f"{statistics.median(paired):>9.2f}"
        print(line)


if __name__ == "__main__":
    main()
