"""Write path A/B on a shared, noisy machine: the servers run side by side and take turns.

Run: .venv/bin/python -m bench.ab [--rounds 4] [--seconds 3] [--clients 1 16 64]
`bench.suite` measures each path in its own stretch of time, so a neighbour's burst lands on one
path and not the other. Here the ceiling (bench/ceiling.py) and `edge-admin serve` with and
without WRITE_PROJECT_IN_COMMIT are started at once, each on a fresh schema, and every round runs
the same wrk workloads against each in turn (the order rotates). Each of our figures is divided
by the ceiling's figure of the same round and client count; the table shows the median over the
rounds of those ratios, and the median absolute figures beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.commands import API_KEY, fresh_schema, relay_settled, server
from bench.suite import ceiling_server, load

Result = dict[str, Any]
Key = tuple[str, str, int]  # server, workload, clients
# An extra figure of the results: heading, width, the results' key, its format.
Extra = tuple[str, int, str, str]


def print_medians(runs: dict[Key, list[Result]], ratios: dict[Key, list[tuple[float, ...]]],
                  workloads: str, ratio_columns: Sequence[tuple[str, int]],
                  extras: Sequence[Extra] = ()) -> None:
    """The A/B table (bench/ab_reads.py prints its own through it): each server, workload and
    client count with the medians over the rounds of its absolute figures, of its ratios to
    the ceiling's (a blank where no round paired one), and of each extra figure its results
    carry."""
    print(f"{os.cpu_count()} CPUs; {workloads}")
    name_width = max(len("server"), *(len(name) for name, _, _ in runs)) + 2
    print(f"{'server':<{name_width}}{'workload':<10}{'clients':>8}{'req/s':>8}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'errors':>7}"
          + "".join(f"{title:>{width}}" for title, width in ratio_columns)
          + "".join(f"{title:>{width}}" for title, width, _, _ in extras))
    for (name, workload, clients), results in sorted(runs.items()):
        def med(key: str, rs: list[Result] = results) -> float:
            return statistics.median(r[key] or 0.0 for r in rs)

        errors = sum(r["errors"] for r in results)
        line = (f"{name:<{name_width}}{workload:<10}{clients:>8}{med('rate'):>8,.0f}"
                f"{med('p50_ms'):>8.1f}{med('p99_ms'):>8.1f}{errors:>7}")
        paired = ratios.get((name, workload, clients))
        line += "".join(f"{statistics.median(p[i] for p in paired):>{width}.2f}" if paired
                        else " " * width for i, (_, width) in enumerate(ratio_columns))
        line += "".join(f"{med(key):>{width}{spec}}" for _, width, key, spec in extras
                        if all(key in r for r in results))
        print(line.rstrip())


def ours(stack: ExitStack, in_commit: bool, log: Path) -> tuple[httpx.Client, str, list[str]]:
    """A started server with an enrollment key and 30 registered nodes."""
    os.environ["WRITE_GROUP_COMMIT"] = "true"
    os.environ["WRITE_PROJECT_IN_COMMIT"] = str(in_commit).lower()
    url = stack.enter_context(fresh_schema())
    client = stack.enter_context(server(url, log, False))
    relay_settled(url)
    client.post("/api/v1/clusters", json={"name": "bench"}).raise_for_status()
    key = client.post("/api/v1/clusters/bench/enrollment_keys",
                      json={"uses_remaining": None}).json()["data"]["key"]
    for _ in range(30):
        client.post("/agent/v1/enroll", json={"enrollment_key": key, "id_type": "random",
                                              "version": "1.0.0"}).raise_for_status()
    ids = [r["id"] for r in client.get("/api/v1/nodes", params={"page_size": 100}).json()["data"]]
    return client, key, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not wrk.available():
        sys.exit("bench.ab drives the servers with wrk: apt-get install wrk")
    runs: dict[Key, list[Result]] = {}
    ratios: dict[Key, list[tuple[float, ...]]] = {}
    body = json.dumps({"command_text": "uptime",
                       "targeting": {"type": "nodes", "node_ids": ["{id}"]}})
    with ExitStack() as stack:
        ceiling = stack.enter_context(ceiling_server(stack.enter_context(fresh_schema())))
        rows = [ceiling.post("/rows", content=body).json()["data"]["id"] for _ in range(200)]
        servers = {name: ours(stack, in_commit, Path(f"/tmp/bench-ab-{name}.log"))
                   for name, in_commit in (("in-commit", True), ("projector", False))}
        targets = ["ceiling", *servers]
        for round_ in range(args.rounds):
            for clients in args.clients:
                base = wrk.run(str(ceiling.base_url),
                               wrk.script(API_KEY, "POST", "/rows", body, rows),
                               clients, args.seconds)
                runs.setdefault(("ceiling", "write", clients), []).append(base)
                order = targets[1:][round_ % 2:] + targets[1:][:round_ % 2]
                for name in order:
                    client, key, ids = servers[name]
                    for workload in ("command", "register"):
                        got = load(client, workload, clients, args.seconds, key=key, ids=ids)
                        runs.setdefault((name, workload, clients), []).append(got)
                        if got["rate"] and base["rate"] and got["p50_ms"] and got["p99_ms"]:
                            ratios.setdefault((name, workload, clients), []).append((
                                got["rate"] / base["rate"], got["p50_ms"] / base["p50_ms"],
                                got["p99_ms"] / base["p99_ms"]))
            print(f"round {round_ + 1} of {args.rounds} done")
    print_medians(runs, ratios, f"{args.rounds} rounds of {args.seconds:g} s per workload; "
                  "medians", (("req/s x", 9), ("p50 x", 7), ("p99 x", 7)))


if __name__ == "__main__":
    main()
