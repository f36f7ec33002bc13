"""Where a read's time goes under load, per request (issue 18; results in bench/PROFILE.md).

Run: .venv/bin/python -m bench.profile_read [--workload get|list|poll] [--clients 16]
[--seconds 20]
As bench/profile_write.py, for GET /api/v1/nodes/{id}, GET /api/v1/nodes?page_size=20 or an
idle agent's look for work (POST /agent/v1/work, wait_seconds 0) on 30 registered nodes: the
CPU each process spent per request, and the server's Python time (py-spy --gil) split into the
stages of the read path by the frames on each sampled stack.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.commands import API_KEY, fresh_schema, relay_settled, server
from bench.profile_write import (
    Breakdown,
    backends,
    cpu_seconds,
    pids_of,
    print_breakdown,
    seed,
    serve_pid,
)
from bench.suite import node_ids

# (stage, pattern on one frame); the first stage any frame of a stack matches wins.
STAGES = [
    ("SQL (pool, cursor, execute, fetch)", r"psycopg|psycopg_pool|sql_views\.py|"
                                           r"postgres_views\.py|sql_dialect\.py"),
    ("records (rows -> Record structs)", r"projections/records\.py"),
    ("render (records -> shapes)", r"serializers\.py"),
    ("answer (envelope, msgspec, socket writes)", r"responses\.py"),
    ("query parameters", r"listing\.py"),
    ("thread hand-off (anyio)", r"anyio/|concurrent/futures|threading\.py"),
    ("HTTP (uvicorn, starlette, asyncio)", r"uvicorn/|starlette/|asyncio/|httptools"),
]


def stage_of(stack: list[str]) -> str:
    import re

    for stage, pattern in STAGES:
        if any(re.search(pattern, frame) for frame in stack):
            return stage
    return "other (GC, logging, ...)"


def profile(args: argparse.Namespace) -> None:
    app_name = f"profile-{os.getpid()}"
    os.environ["PGAPPNAME"] = app_name
    with fresh_schema() as url, server(url, args.log, False) as client:
        relay_settled(url)
        ids = seed(client, 30)
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        pid = serve_pid(port)
        lua = {
            "get": lambda: wrk.script(API_KEY, "GET", "/api/v1/nodes/{id}", ids=ids),
            "list": lambda: wrk.script(API_KEY, "GET", "/api/v1/nodes?page_size=20"),
            "poll": lambda: wrk.script(API_KEY, "POST", "/agent/v1/work", '{"wait_seconds": 0}',
                                       node_ids(client, "api_token"), bearer_ids=True),
            "heartbeat": lambda: wrk.script(API_KEY, "POST", "/agent/v1/heartbeat",
                                            '{"status": "healthy"}',
                                            node_ids(client, "api_token"), bearer_ids=True),
        }[args.workload]()
        wrk.run(str(client.base_url), lua, args.clients, 3)  # warm up
        result: dict[str, Any] = {}
        load = threading.Thread(target=lambda: result.update(
            wrk.run(str(client.base_url), lua, args.clients, args.seconds + 2)))
        load.start()
        time.sleep(1)
        watched = {"server": [pid], "PostgreSQL backends": backends(app_name),
                   "wrk": pids_of(f":{port}", "wrk")}
        before = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
        with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as raw:
            subprocess.run(["py-spy", "record", "--pid", str(pid), "--rate", str(args.rate),
                            "--duration", str(args.seconds), "--nonblocking", "--gil",
                            "--format", "raw", "--output", raw.name],
                           check=True, capture_output=True)
        after = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
        load.join()
        stacks = Path(raw.name).read_text().splitlines()
        if args.keep is not None:
            args.keep.write_text("\n".join(stacks) + "\n")
        Path(raw.name).unlink()
    report(args, result, watched, before, after, stacks)


def report(  # noqa: PLR0913 - the figures of one profile, printed together
    args: argparse.Namespace, result: dict[str, Any], watched: dict[str, list[int]],
    before: dict[str, float], after: dict[str, float], stacks: list[str],
) -> None:
    print(f"{args.workload}, {args.clients} clients: {result['rate']:,.0f} req/s, "
          f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"errors {result['errors']}")
    print_breakdown(Breakdown(result["rate"] * args.seconds, args.rate, watched, before, after),
                    stacks, stage_of, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=["get", "list", "poll", "heartbeat"],
                        default="get", help="poll: an idle agent's POST /agent/v1/work "
                        "(wait_seconds 0); heartbeat: POST /agent/v1/heartbeat, no change")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-profile-read.log"))
    parser.add_argument("--keep", type=Path, help="also write py-spy's raw stacks here")
    profile(parser.parse_args())


if __name__ == "__main__":
    main()
