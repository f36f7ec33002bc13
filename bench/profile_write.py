"""Where a write's time goes under load, per request (issue 18; results in bench/PROFILE.md).

Run: .venv/bin/python -m bench.profile_write [--clients 16] [--seconds 20] [--rate 100]
                                             [--in-commit true|false]
Starts `edge-admin serve` on a fresh PostgreSQL schema, registers a few nodes, then drives
POST /api/v1/commands with wrk while py-spy samples the server (non-blocking, so the sampled
process is never paused; --gil: only the thread holding the interpreter lock, i.e. Python
running; on two busy cores a thread merely waiting to run would otherwise count as busy).
Prints the CPU each process spent per request (the server, its PostgreSQL backends, wrk), and
the server's Python time split into the stages of the write path by the frames on each
sampled stack; the rest of the server's CPU ran outside the lock (libpq, sockets, syscalls).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import wrk
from bench.commands import API_KEY, BASE, fresh_schema, relay_settled, server

# (stage, pattern on one frame); the first stage any frame of a stack matches wins.
STAGES = [
    ("projection (in the insert transaction)", r"pg_commit_projection\.py"),
    ("projection (projector thread)", r"projections/runner\.py|projection-"),
    ("encode (events -> stored rows)", r"^to_stored_event |transcoder|msgspec_encode"),
    ("commit (insert, snapshots)", r"adapters/pg_recorder\.py|^save \(application/store\.py"),
    ("decide (load + rules)", r"application/write_path\.py|application/group_commit\.py"),
    ("targets (read before deciding)", r"adapters/read_ports\.py|projections/targets\.py"),
    ("answer (read back + render)", r"(^|\.)load \(entrypoints/http/crud\.py|responses\.py"
                                    r"|serializers\.py"),
    ("decode (receive body, msgspec, checks)", r"entrypoints/http/inputs\.py"),
    ("relay (log -> bus)", r"application/relay\.py|memory_bus\.py"),
    ("HTTP (uvicorn, starlette, anyio)", r"uvicorn/|starlette/|anyio/|asyncio/|httptools"),
]


def stage_of(stack: list[str]) -> str:
    for stage, pattern in STAGES:
        if any(re.search(pattern, frame) for frame in stack):
            return stage
    return "other (GC, pool, logging, ...)"


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_of(needle: str, argv0: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv0.encode() in argv[0] and needle.encode() in b" ".join(argv):
            found.append(int(entry.name))
    return found


def backends(app_name: str) -> list[int]:
    with psycopg.connect(BASE, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                            (app_name + ":%",)).fetchall()
    return [r[0] for r in rows]


def serve_pid(port: int) -> int:
    for pid in pids_of("serve", "python"):
        try:
            if f"PORT={port}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise RuntimeError(f"no edge-admin serve on port {port}")


def seed(client: httpx.Client, nodes: int) -> list[str]:
    client.post("/api/v1/clusters", json={"name": "profile"}).raise_for_status()
    key = client.post("/api/v1/clusters/profile/enrollment_keys",
                      json={"uses_remaining": None}).json()["data"]["key"]
    for _ in range(nodes):
        client.post("/agent/v1/enroll", json={"enrollment_key": key, "id_type": "random",
                                              "version": "1.0.0"}).raise_for_status()
    return [r["id"] for r in client.get("/api/v1/nodes", params={"page_size": 100}).json()["data"]]


def profile(args: argparse.Namespace) -> None:
    app_name = f"profile-{os.getpid()}"
    os.environ["PGAPPNAME"] = app_name
    os.environ["WRITE_PROJECT_IN_COMMIT"] = args.in_commit
    with fresh_schema() as url, server(url, args.log, False) as client:
        relay_settled(url)
        ids = seed(client, 20)
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        pid = serve_pid(port)
        if args.workload == "register":
            key = client.post("/api/v1/clusters/profile/enrollment_keys",
                              json={"uses_remaining": None}).json()["data"]["key"]
            lua = wrk.script(API_KEY, "POST", "/agent/v1/enroll", json.dumps(
                {"enrollment_key": key, "id_type": "random", "version": "1.0.0"}))
        else:
            lua = wrk.script(API_KEY, "POST", "/api/v1/commands", json.dumps(
                {"command_text": "uptime", "targeting": {"type": "nodes", "node_ids": ["{id}"]}}),
                ids)
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
    print(f"{args.workload}, WRITE_PROJECT_IN_COMMIT={args.in_commit}, {args.clients} clients: "
          f"{result['rate']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, errors {result['errors']}")
    print_breakdown(Breakdown(result["rate"] * args.seconds, args.rate, watched, before, after),
                    stacks, stage_of, 2)


@dataclass(frozen=True)
class Breakdown:
    """What one profiled run measured: requests served, py-spy's sampling rate, and the CPU
    seconds of each watched group of processes before and after."""

    requests: float
    rate: int
    watched: dict[str, list[int]]
    before: dict[str, float]
    after: dict[str, float]


def print_breakdown(run: Breakdown, stacks: list[str], stage: Callable[[list[str]], str],
                    digits: int) -> None:
    """CPU per request of each watched group, then the server's GIL samples by stage."""
    per = run.requests
    print(f"{'CPU per request (ms)':<40}{'ms':>7}")
    for name in run.watched:
        print(f"{name:<40}{(run.after[name] - run.before[name]) * 1000 / per:>7.{digits}f}")
    samples: Counter[str] = Counter()
    for line in stacks:
        frames, _, hits = line.rpartition(" ")
        samples[stage(frames.split(";"))] += int(hits)
    total = sum(samples.values())
    print(f"{'server holding the GIL, by stage':<40}{'ms':>7}{'share':>7}")
    for name, n in samples.most_common():
        print(f"{name:<40}{n / run.rate * 1000 / per:>7.{digits}f}{n / total:>7.0%}")
    python = total / run.rate * 1000 / per
    server_ms = (run.after["server"] - run.before["server"]) * 1000 / per
    print(f"{'server CPU outside the GIL (C, syscalls)':<40}{server_ms - python:>7.{digits}f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", choices=["command", "register"], default="command",
                        help="POST /api/v1/commands (one node) or POST /agent/v1/enroll")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--in-commit", choices=["true", "false"], default="true")
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-profile-serve.log"))
    parser.add_argument("--keep", type=Path, help="also write py-spy's raw stacks here")
    profile(parser.parse_args())


if __name__ == "__main__":
    main()
