"""Placement decisions over 1,000 hosts, and deploy requests accepted per second over HTTP.

Run: .venv/bin/python -m bench.deployments [--hosts 1000] [--seconds 5] [--clients 16]
1. In process: `domain.placement.place` over N hosts spread over the globe with random room,
   for random users (1 to 4 each); prints p50/p99 per decision (goal: p99 <= 5 ms).
2. Over HTTP on PostgreSQL: seeds N nodes with host profiles in a fresh schema (not
   measured), starts `edge-admin serve`, and has client threads in a separate process POST
   /v2/deployments for `--seconds`; prints accepted/s and latency (Edgegap documents 40/s;
   goal >= 200/s).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from application.apps import CreateApp, CreateAppVersion
from application.hosts import UpdateHost
from bench.commands import API_KEY, fresh_schema, seed, server, services_for
from domain.placement import Candidate, Need, Point, place


def placement(hosts: int, decisions: int, rng: random.Random) -> list[float]:
    candidates = [Candidate(str(i), Point(rng.uniform(-60, 70), rng.uniform(-180, 180)),
                            rng.randrange(0, 8192), rng.randrange(0, 16384),
                            rng.random() > 0.05) for i in range(hosts)]
    need = Need(1024, 512, "game:1")
    timings = []
    for _ in range(decisions):
        users = [Point(rng.uniform(-60, 70), rng.uniform(-180, 180))
                 for _ in range(rng.randint(1, 4))]
        started = time.perf_counter()
        place(candidates, users, need)
        timings.append(time.perf_counter() - started)
    return timings


def profile_hosts(url: str, rng: random.Random) -> None:
    services = services_for(url)
    services.start()
    try:
        for row in services.view.select("nodes", {}):
            profile = {"location": {"latitude": rng.uniform(-60, 70),
                                    "longitude": rng.uniform(-180, 180)},
                       "cpu_units": 1 << 30, "memory_mb": 1 << 30}
            services.hosts.update(row["id"], msgspec.convert(profile, UpdateHost))
        services.apps.create(CreateApp(name="game"))
        services.apps.add_version("game", CreateAppVersion(name="v1", image="game:1",
                                                           cpu_units=64, memory_mb=64))
    finally:
        services.close()


CLIENT = """
import sys, threading, time, random, httpx, json
url, seconds, clients, key = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lat = []; errors = [0]; lock = threading.Lock()
def work():
    rng = random.Random()
    with httpx.Client(base_url=url, timeout=30, headers={"authorization": "token " + key}) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            body = {"application": "game", "version": "v1", "users": [{"user_type":
                    "geo_coordinates", "user_data": {"latitude": rng.uniform(-60, 70),
                    "longitude": rng.uniform(-180, 180)}}]}
            t = time.perf_counter(); r = c.post("/v2/deployments", json=body)
            with lock:
                if r.status_code == 202: lat.append(time.perf_counter() - t)
                else: errors[0] += 1
threads = [threading.Thread(target=work) for _ in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"latencies": lat, "errors": errors[0]}))
"""


def over_http(hosts: int, seconds: float, clients: int, rng: random.Random) -> dict[str, Any]:
    with fresh_schema() as url:
        seed(url, hosts, 4)
        profile_hosts(url, rng)
        with server(url, Path("/tmp/bench-deployments-serve.log"), False) as client:
            base = str(client.base_url).rstrip("/")
            out = subprocess.run([sys.executable, "-c", CLIENT, base, str(seconds),
                                  str(clients), API_KEY], capture_output=True, text=True,
                                 check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    timings = placement(args.hosts, args.decisions, rng)
    print(f"placement over {args.hosts} hosts: p50 {pct(timings, 0.5):.2f} ms, "
          f"p99 {pct(timings, 0.99):.2f} ms, mean {statistics.mean(timings) * 1000:.2f} ms "
          f"({args.decisions} decisions; goal p99 <= 5 ms)")
    if args.skip_http:
        return
    result = over_http(args.hosts, args.seconds, args.clients, rng)
    lat = result["latencies"]
    print(f"POST /v2/deployments, {args.clients} clients, {args.hosts} hosts on PostgreSQL: "
          f"{len(lat) / args.seconds:.0f} accepted/s, p50 {pct(lat, 0.5):.1f} ms, "
          f"p99 {pct(lat, 0.99):.1f} ms, {result['errors']} not accepted (goal >= 200/s)")


if __name__ == "__main__":
    main()
