"""Throughput of one `edge-admin serve` against two on one database, with the ceiling.

Run: .venv/bin/python -m bench.two_serves [--rounds 3] [--seconds 3] [--clients 64]
Users outgrow one process before one machine (one interpreter lock, one core). Here one
database holds the data of both setups, so they write the same tables. Each round drives, in
turn: the ceiling (bench/ceiling.py) with N clients; one serve with N clients; the two serves
with N/2 clients each, at the same time (req/s is their sum, latency the worse of the two).
Each of our figures is divided by the ceiling's of the same round; the table shows medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import wrk
from bench.commands import API_KEY, fresh_schema, relay_settled, server
from bench.suite import ceiling_server, load

Result = dict[str, Any]


def _fleet(client: httpx.Client) -> tuple[str, list[str]]:
    """An enrollment key and 30 registered nodes, the targets of the command workload."""
    client.post("/api/v1/clusters", json={"name": "bench"}).raise_for_status()
    key = client.post("/api/v1/clusters/bench/enrollment_keys",
                      json={"uses_remaining": None}).json()["data"]["key"]
    for _ in range(30):
        client.post("/agent/v1/enroll", json={"enrollment_key": key, "id_type": "random",
                                              "version": "1.0.0"}).raise_for_status()
    ids = [r["id"] for r in client.get("/api/v1/nodes", params={"page_size": 100}).json()["data"]]
    return key, ids


def _together(  # noqa: PLR0913 - the load() arguments, plus the servers
        clients: list[httpx.Client], workload: str, each: int, seconds: float,
        key: str, ids: list[str]) -> Result:
    results: list[Result] = [{} for _ in clients]

    def drive(i: int) -> None:
        results[i] = load(clients[i], workload, each, seconds, key=key, ids=ids)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    worst = [r[k] for r in results for k in ("p50_ms", "p99_ms") if r[k] is None]
    return {
        "rate": sum(r["rate"] or 0.0 for r in results),
        "p50_ms": None if worst else max(r["p50_ms"] for r in results),
        "p99_ms": None if worst else max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if not wrk.available():
        sys.exit("bench.two_serves drives the servers with wrk: apt-get install wrk")
    os.environ["WRITE_GROUP_COMMIT"] = "true"
    body = json.dumps({"command_text": "uptime",
                       "targeting": {"type": "nodes", "node_ids": ["{id}"]}})
    runs: dict[tuple[str, str], list[Result]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    with ExitStack() as stack:
        ceiling = stack.enter_context(ceiling_server(stack.enter_context(fresh_schema())))
        rows = [ceiling.post("/rows", content=body).json()["data"]["id"] for _ in range(200)]
        url = stack.enter_context(fresh_schema())
        first = stack.enter_context(server(url, Path("/tmp/bench-two-serves-1.log"), False))
        relay_settled(url)
        key, ids = _fleet(first)
        second = stack.enter_context(server(url, Path("/tmp/bench-two-serves-2.log"), False))
        for round_ in range(args.rounds):
            base = wrk.run(str(ceiling.base_url), wrk.script(API_KEY, "POST", "/rows", body, rows),
                           args.clients, args.seconds)
            runs.setdefault(("ceiling", "write"), []).append(base)
            for workload in ("command", "get"):
                for name, got in (
                    ("one serve", load(first, workload, args.clients, args.seconds, key=key,
                                       ids=ids)),
                    ("two serves", _together([first, second], workload, args.clients // 2,
                                             args.seconds, key, ids)),
                ):
                    runs.setdefault((name, workload), []).append(got)
                    if got["rate"] and base["rate"]:
                        ratios.setdefault((name, workload), []).append(got["rate"] / base["rate"])
            print(f"round {round_ + 1} of {args.rounds} done")
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.seconds:g} s; {args.clients} "
          "clients in all (two serves: half each, at once); medians; ratio = req/s over the "
          "ceiling's write req/s of the same round")
    print(f"{'server':<12}{'workload':<10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
          f"{'x ceiling':>10}")
    for (name, workload), results in runs.items():
        def med(k: str, rs: list[Result] = results) -> float:
            return statistics.median(r[k] or 0.0 for r in rs)

        paired = ratios.get((name, workload))
        ratio = f"{statistics.median(paired):>10.2f}" if paired else ""
        print(f"{name:<12}{workload:<10}{med('rate'):>8,.0f}{med('p50_ms'):>8.1f}"
              f"{med('p99_ms'):>8.1f}{sum(r['errors'] for r in results):>7}{ratio}")


if __name__ == "__main__":
    main()
