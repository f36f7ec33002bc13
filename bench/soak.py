"""Memory over time: does `edge-admin serve` (and `edge-agent`) stay flat under a steady load?

Run: .venv/bin/python -m bench.soak [--minutes 20] [--warm-up 5] [--agents 40] [--reads 10]
[--port 19800] [--tracemalloc]
Two `edge-admin serve` of this checkout start at once, each on a fresh PostgreSQL schema with
its own JetStream stream (NATS_URL) and a webhook to a receiver in this process: one under
load, the other idle for the same time (the same-run baseline). The loaded one gets, for
`--minutes`: `--agents` simulated agents (heartbeat every 10 s, a 25 s work long poll answered
with execution results and deployment reports ready/terminated, metrics and a host report every
15 s); one command a second to a random simulated node; an Edgegap deployment placed
(POST /v2/deployments) every 2 s and stopped (DELETE /v1/stop) 10 s later; a node enrolled,
polled once and deleted every 10 s; an `/api/v1/events/stream` opened every 5 s and dropped
after 3 s; `--reads` reads a second (lists and gets of nodes, commands, executions,
deployments, events, webhooks); signed webhook deliveries of what those record. Two real
`edge-agent` (no containers) are enrolled in it: one runs a command every second
(`echo`), the other gets none (its baseline).

Every 30 s the RSS of the four processes is read from /proc; the slope after `--warm-up`
minutes (least squares) is printed in MB per hour, and for the loaded serve also in MB per
100k requests. With --tracemalloc the loaded serve runs under tracemalloc (6 frames; slower,
so off by default) and this prints the allocations that grew most between the end of warm-up
and the end, with the object types whose counts grew.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter, deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors

from bench.commands import API_KEY, fresh_schema, relay_settled, server, stop_process
from bench.webhooks import SECRET, ReceiverProtocol, Tally
from entrypoints.cli import main as admin_main

NATS = "nats://127.0.0.1:4222"
SAMPLE = 30.0
AGENT_BIN = Path(sys.executable).parent / "edge-agent"
HOOKED = ["edge.node.registered", "edge.command_execution.completed",
          "edge.deployment.ready", "edge.deployment.terminated"]
EDGEGAP = {"authorization": f"token {API_KEY}"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


# --- the serve under tracemalloc (`python -m bench.soak --traced-serve`) ---------------------
def traced_serve() -> None:
    """edge-admin serve with tracemalloc on; SIGUSR1 writes a snapshot and the live objects'
    type counts to SOAK_SNAPSHOTS/<n>.*."""
    tracemalloc.start(6)
    folder, taken = Path(os.environ["SOAK_SNAPSHOTS"]), [0]

    def dump(*_: object) -> None:
        taken[0] += 1
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        (folder / f"{taken[0]}.snapshot").write_bytes(pickle.dumps(snapshot))
        counts = Counter(type(o).__qualname__ for o in gc.get_objects())
        (folder / f"{taken[0]}.types").write_text(
            "\n".join(f"{n} {name}" for name, n in counts.most_common(300)))
        (folder / f"{taken[0]}.done").touch()

    signal.signal(signal.SIGUSR1, dump)
    sys.exit(admin_main(["serve"]))


# --- the load ----------------------------------------------------------------------------
@dataclass
class Load:
    client: httpx.AsyncClient
    rng: random.Random
    stop: asyncio.Event
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    nodes: list[str] = field(default_factory=list)  # simulated agents' node ids
    commands: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    deployments: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    stops: set[asyncio.Task[None]] = field(default_factory=set)

    async def call(self, kind: str, method: str, path: str, **kw: Any) -> Any:
        self.sent[kind] += 1
        try:
            answer = await self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.failed[f"{kind}: {type(exc).__name__}"] += 1
            return None
        if answer.status_code >= 400:
            self.failed[f"{kind}: {answer.status_code}"] += 1
            return None
        return answer.json() if answer.content else {}

    async def every(self, period: float, act: Any, *args: Any) -> None:
        await asyncio.sleep(self.rng.uniform(0, period))
        while not self.stop.is_set():
            started = time.monotonic()
            await act(*args)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    @property
    def total(self) -> int:
        return sum(self.sent.values())


class Agent:
    """One simulated agent: what edge-agent sends, without running anything."""

    def __init__(self, load: Load, token: str) -> None:
        self.load, self.auth = load, {"authorization": f"Bearer {token}"}
        self.running: set[str] = set()

    async def post(self, kind: str, path: str, body: dict[str, Any]) -> Any:
        return await self.load.call(kind, "POST", path, json=body, headers=self.auth)

    async def heartbeat(self) -> None:
        await self.post("heartbeat", "/agent/v1/heartbeat", {"status": "healthy"})

    async def report(self) -> None:
        await self.post("metrics", "/agent/v1/metrics", {
            "host": {"cpu": {"cores": 2, "load_1m": self.load.rng.random()},
                     "memory": {"total_bytes": 1 << 30, "used_bytes": 1 << 29}},
            "agent": {"commands": {"executions_total": 3}}})
        await self.post("host", "/agent/v1/host", {
            "location": {"city": "Montreal", "latitude": 45.5, "longitude": -73.6},
            "cpu_units": 1 << 20, "memory_mb": 1 << 20, "images": ["localhost/game:1"]})

    async def poll(self) -> None:
        while not self.load.stop.is_set():
            work = await self.post("poll", "/agent/v1/work", {
                "wait_seconds": 25, "deployments": sorted(self.running)})
            if work is None:
                await asyncio.sleep(1)
                continue
            data = work["data"]
            for execution in data["executions"]:
                await self.post("result", f"/agent/v1/executions/{execution['id']}/result",
                                {"exit_code": 0, "output": " 10:00:00 up 1 day,  load 0.1\n"})
            for start in data["deployments"]:
                self.running.add(start["request_id"])
                await self.post("ready", f"/agent/v1/deployments/{start['request_id']}/report",
                                {"state": "ready", "public_ip": "127.0.0.1"})
            for request_id in data["stop_deployments"]:
                if request_id in self.running:
                    self.running.discard(request_id)
                    await self.post("terminated",
                                    f"/agent/v1/deployments/{request_id}/report",
                                    {"state": "terminated", "exit_code": 0})


async def enroll(load: Load, key: str) -> tuple[str, str] | None:
    answer = await load.call("enroll", "POST", "/agent/v1/enroll", json={
        "enrollment_key": key, "id_type": "random", "version": "1.0.0"})
    return None if answer is None else (answer["data"]["node_id"], answer["data"]["api_token"])


async def churn(load: Load, key: str) -> None:
    """A node that comes and goes: enrolled, heard once, deleted."""
    enrolled = await enroll(load, key)
    if enrolled is not None:
        node = Agent(load, enrolled[1])
        await node.heartbeat()
        await node.post("poll", "/agent/v1/work", {"wait_seconds": 0})
        await load.call("delete node", "DELETE", f"/api/v1/nodes/{enrolled[0]}")


async def command(load: Load, node_id: str | None = None) -> None:
    target = node_id or load.rng.choice(load.nodes)
    answer = await load.call("command", "POST", "/api/v1/commands", json={
        "command_text": "uptime" if node_id is None else "echo soak",
        "targeting": {"type": "nodes", "node_ids": [target]}})
    if answer is not None and node_id is None:
        load.commands.append(answer["data"]["id"])


async def deploy(load: Load) -> None:
    answer = await load.call("deploy", "POST", "/v2/deployments", headers=EDGEGAP, json={
        "application": "game", "version": "v1", "users": [{
            "user_type": "geo_coordinates",
            "user_data": {"latitude": 45.0, "longitude": -73.0}}]})
    if answer is None:
        return
    load.deployments.append(answer["request_id"])
    stopping = asyncio.create_task(stop_later(load, answer["request_id"]))
    load.stops.add(stopping)
    stopping.add_done_callback(load.stops.discard)


async def stop_later(load: Load, request_id: str) -> None:
    await asyncio.sleep(10)
    await load.call("stop", "DELETE", f"/v1/stop/{request_id}", headers=EDGEGAP)


async def read(load: Load) -> None:
    rng, paths = load.rng, ["/api/v1/nodes?page_size=20", "/api/v1/commands?page_size=20",
                            "/api/v1/events?page_size=20", "/api/v1/webhooks"]
    paths.append(f"/api/v1/nodes/{rng.choice(load.nodes)}")
    if load.commands:
        command_id = rng.choice(load.commands)
        paths += [f"/api/v1/commands/{command_id}",
                  f"/api/v1/command_executions?command_id={command_id}"]
    if load.deployments:
        paths += [f"/v1/status/{rng.choice(load.deployments)}", "/v1/deployments"]
    path = rng.choice(paths)
    await load.call("read", "GET", path, headers=EDGEGAP if path.startswith("/v1/") else None)


async def stream(load: Load) -> None:
    """A dashboard's look at the events stream: opened, read 3 s, dropped."""
    load.sent["stream"] += 1
    with contextlib.suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(3), load.client.stream("GET", "/api/v1/events/stream") as s:
            async for _ in s.aiter_bytes():
                pass


# --- the run -----------------------------------------------------------------------------
class Admin:
    """A started serve with its own schema, stream, webhook and enrollment key."""

    def __init__(self, stack: ExitStack, name: str, port: int, hook: str,
                 traced: Path | None) -> None:
        self.name, stream = name, f"H8_SOAK_{uuid.uuid4().hex[:8].upper()}"
        os.environ["PGAPPNAME"] = f"h8-soak-{name}"
        stack.callback(drop_stream, stream)
        url = stack.enter_context(fresh_schema("h8_"))
        env = {"NATS_URL": NATS, "NATS_STREAM": stream,
               "NATS_SUBJECT_PREFIX": f"{stream.lower()}.", "WEBHOOK_ALLOW_PRIVATE_IPS": "true",
               "DATABASE_POOL_SIZE": "4", "PUBLIC_URL": f"http://127.0.0.1:{port}"}
        argv = None
        if traced is not None:
            env["SOAK_SNAPSHOTS"] = str(traced)
            argv = [sys.executable, "-m", "bench.soak", "--traced-serve"]
        self.process: subprocess.Popen[bytes] | None = None
        self.client = stack.enter_context(server(
            url, Path(f"/tmp/h8-soak-{name}.log"), False, port=port, more_env=env, serve=argv))
        relay_settled(url)
        self.pid = self._pid(port)
        self.base = f"http://127.0.0.1:{port}"
        post = self.client.post
        post("/api/v1/clusters", json={"name": "soak"}).raise_for_status()
        self.key = post("/api/v1/clusters/soak/enrollment_keys",
                        json={"uses_remaining": None}).json()["data"]["key"]
        post("/api/v1/webhooks", json={"url": hook, "secret": SECRET,
                                       "subscribed_events": HOOKED}).raise_for_status()
        post("/api/v1/apps", json={"name": "game"}).raise_for_status()
        post("/api/v1/apps/game/versions", json={
            "name": "v1", "image": "localhost/game:1", "cpu_units": 64, "memory_mb": 64,
            "ports": [{"port": 7777, "protocol": "UDP"}]}).raise_for_status()

    @staticmethod
    def _pid(port: int) -> int:
        for entry in Path("/proc").iterdir():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"PORT={port}".encode() in environ and b"DATABASE_URL=" in b" ".join(environ):
                return int(entry.name)
        raise RuntimeError(f"no serve on port {port}")


def drop_stream(stream: str) -> None:
    async def drop() -> None:
        connection = await nats.connect(NATS)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(stream)
        await connection.close()

    asyncio.run(drop())


def start_agent(stack: ExitStack, admin: Admin, name: str) -> subprocess.Popen[bytes]:
    home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="h8-soak-")))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ENROLLMENT_KEY": admin.key}
    with open(f"/tmp/h8-soak-agent-{name}.log", "wb") as out:
        proc = subprocess.Popen([
            str(AGENT_BIN), "--admin-url", admin.base, "--max-load-per-core", "1000",
            "--min-free-disk-percent", "0", "--ssh-port", "0", "--state-dir", str(home),
            "--id-type", "random"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop_process, proc)
    return proc


def agent_node(admin: Admin, known: set[str]) -> str:
    """The node id a real agent enrolled as: the one node not among `known`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = admin.client.get("/api/v1/nodes", params={"page_size": 100}).json()["data"]
        fresh = [r["id"] for r in rows if r["id"] not in known]
        if fresh:
            return str(fresh[0])
        time.sleep(0.5)
    raise RuntimeError("the agent did not enroll in 60 s")


async def drive(admin: Admin, args: argparse.Namespace, busy_node: str,
                watch: dict[str, int], traced: Path | None) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=admin.base, timeout=60, limits=limits,
                                 headers={"authorization": f"Bearer {API_KEY}"}) as client:
        load = Load(client, random.Random(7), asyncio.Event())
        agents = []
        for _ in range(args.agents):
            enrolled = await enroll(load, admin.key)
            assert enrolled is not None, load.failed
            load.nodes.append(enrolled[0])
            agents.append(Agent(load, enrolled[1]))
        for agent in agents:  # a location and room first, so deployments find hosts
            await agent.heartbeat()
            await agent.report()
        tasks = [asyncio.create_task(c) for a in agents for c in (
            load.every(10, a.heartbeat), load.every(15, a.report), a.poll())]
        tasks += [asyncio.create_task(c) for c in (
            load.every(1, command, load), load.every(1, command, load, busy_node),
            load.every(2, deploy, load), load.every(10, churn, load, admin.key),
            load.every(5, stream, load))]
        tasks += [asyncio.create_task(load.every(1 / args.reads * args.readers, read, load))
                  for _ in range(args.readers)]
        await sample(load, args, watch, traced)
        load.stop.set()
        for task in (*tasks, *load.stops):
            task.cancel()
        await asyncio.gather(*tasks, *load.stops, return_exceptions=True)
    print("requests sent to the loaded serve: " + ", ".join(
        f"{kind} {n:,}" for kind, n in load.sent.most_common()))
    if load.failed:
        print("failed: " + ", ".join(f"{kind} {n}" for kind, n in load.failed.most_common()))


async def sample(load: Load, args: argparse.Namespace, watch: dict[str, int],
                 traced: Path | None) -> None:
    started, warm = time.monotonic(), args.warm_up * 60
    series: dict[str, list[tuple[float, float, int]]] = {name: [] for name in watch}
    print(f"{'min':>5}{'requests':>10}" + "".join(f"{name:>14}" for name in watch)
          + "   (RSS, MB)")
    snapshots = 0
    while (elapsed := time.monotonic() - started) <= args.minutes * 60 + 1:
        row = {name: rss_mb(pid) for name, pid in watch.items()}
        for name, mb in row.items():
            series[name].append((elapsed, mb, load.total))
        print(f"{elapsed / 60:>5.1f}{load.total:>10,}" + "".join(f"{mb:>14.1f}" for mb in
                                                                row.values()))
        if traced is not None and ((snapshots == 0 and elapsed >= warm) or
                                   elapsed + SAMPLE > args.minutes * 60 + 1):
            snapshots += 1
            await snapshot(watch["loaded serve"], traced, snapshots)
        await asyncio.sleep(SAMPLE - (time.monotonic() - started) % SAMPLE)
    print(f"\nafter {args.warm_up:g} min of warm-up, {args.minutes - args.warm_up:g} min "
          f"measured (least squares over the samples):")
    for name, points in series.items():
        kept = [p for p in points if p[0] >= warm]
        per_hour = slope([(t / 3600, mb) for t, mb, _ in kept])
        line = (f"  {name:<14} {kept[0][1]:7.1f} -> {kept[-1][1]:7.1f} MB, "
                f"{per_hour:+7.2f} MB/hour")
        if name == "loaded serve":
            per_100k = slope([(n / 100_000, mb) for _, mb, n in kept])
            line += (f", {per_100k:+.2f} MB per 100k requests "
                     f"({kept[-1][2] - kept[0][2]:,} requests measured)")
        print(line)


async def snapshot(pid: int, folder: Path, number: int) -> None:
    os.kill(pid, signal.SIGUSR1)
    while not (folder / f"{number}.done").exists():
        await asyncio.sleep(0.5)


def print_growth(folder: Path) -> None:
    first, last = (pickle.loads((folder / f"{n}.snapshot").read_bytes()) for n in (1, 2))
    print("\ntracemalloc, end of warm-up -> end: the allocations that grew most")
    stats: list[tracemalloc.StatisticDiff] = last.compare_to(first, "traceback")
    for stat in stats[:12]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7} blocks, now "
              f"{stat.size / 1024:9.1f} KiB")
        for line in stat.traceback.format()[-6:]:
            print("      " + line.strip())
    counts = [dict((name, int(n)) for n, name in (line.split(" ", 1) for line in
                   (folder / f"{k}.types").read_text().splitlines())) for k in (1, 2)]
    grew = sorted(((counts[1].get(t, 0) - counts[0].get(t, 0), t) for t in counts[1]),
                  reverse=True)[:12]
    print("live objects whose count grew most: " + ", ".join(f"{t} {d:+}" for d, t in grew))


def receive(port: int, tally: Tally) -> None:
    """The webhook receiver, on a thread of its own for the whole run."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: ReceiverProtocol(tally), "127.0.0.1", port))
    threading.Thread(target=loop.run_until_complete, args=(server.serve_forever(),),
                     daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--warm-up", type=float, default=5.0, help="minutes left out of slopes")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--reads", type=float, default=10.0, help="reads a second")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--port", type=int, default=19800, help="this and the next two")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--traced-serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traced_serve:
        traced_serve()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    run(args)


def run(args: argparse.Namespace) -> None:
    tally = Tally()
    receive(args.port + 2, tally)
    hook = f"http://127.0.0.1:{args.port + 2}/hook"
    with ExitStack() as stack:
        traced = (Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="h8-soak-")))
                  if args.tracemalloc else None)
        loaded = Admin(stack, "loaded", args.port, hook, traced)
        idle = Admin(stack, "idle", args.port + 1, hook, None)
        known = {r["id"] for r in loaded.client.get("/api/v1/nodes").json()["data"]}
        busy = start_agent(stack, loaded, "busy")
        busy_node = agent_node(loaded, known)
        quiet = start_agent(stack, loaded, "quiet")
        agent_node(loaded, known | {busy_node})
        watch = {"loaded serve": loaded.pid, "idle serve": idle.pid,
                 "busy agent": busy.pid, "quiet agent": quiet.pid}
        print(f"{args.agents} simulated agents, 1 command/s to them and 1/s to the busy "
              f"edge-agent, a deployment placed every 2 s and stopped after 10 s, a node "
              f"enrolled and deleted every 10 s, an events stream every 5 s (3 s), "
              f"{args.reads:g} reads/s, webhook deliveries; {args.minutes:g} min, RSS every "
              f"{SAMPLE:g} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
              + (", loaded serve under tracemalloc" if traced else ""))
        asyncio.run(drive(loaded, args, busy_node, watch, traced))
        print(f"webhook deliveries received: {tally.ok:,} verified, {tally.bad} refused; "
              f"load average now {os.getloadavg()[0]:.1f}")
        if traced is not None:
            print_growth(traced)


if __name__ == "__main__":
    main()
