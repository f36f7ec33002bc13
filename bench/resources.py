"""Appaloft deploys on podman: POST /deployments -> `succeeded`, and the events streams' latency.

Run: .venv/bin/python -m bench.resources [--deploys 20]
Starts podman's Docker-API service with the busybox test image (tests/e2e/podman_harness.py),
a real `edge-admin serve` on a fresh PostgreSQL schema and a real `edge-agent` enrolled to it
(not measured). Through HTTP: one resource running busybox httpd with an HTTP health policy
(GET /index.html, 200; interval 1 s, timeout 1 s, 3 retries), then, one after the other, N
POST /deployments of it (after one unmeasured warm-up); each new attempt, once healthy, stops
the one before it, as a redeploy does.

1. Deploy: from sending POST /deployments to the `event: end` frame with status `succeeded` on
   GET /deployments/{id}/events/stream?untilTerminal=true (opened right after the answer).
   Baseline in the same run, alternating with the deploys: the same container (the agent's own
   container_config and health check code) created, started and checked directly on podman's
   API through aiodocker, then removed. The ratio is the control plane's overhead on top.
   Where the agent's part goes: placed -> ready split by the recorded times of the agent's
   progress lines in GET /deployments/{id}/logs (read after each deploy, not timed).
2. Events-stream latency, commit -> SSE client: every frame received live (not history) on
   each attempt's GET /deployments/{id}/events/stream (kept open until its container stopped)
   and on the store-wide GET /api/v1/events/stream (open for the whole run), measured from
   the event's recorded time (`emittedAt` / `occurred_at`: stamped before its commit, so an
   upper bound) to the frame's arrival. Same machine, same clock.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiodocker
import httpx

from application.agent_protocol import ContainerSpec, HealthCheck, PortMapping
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from bench.commands import API_KEY, fresh_schema, server, services_for, stop_process
from entrypoints.agent.container_health import published_address, wait_healthy
from entrypoints.agent.containers import container_config
from tests.e2e.podman_harness import IMAGE, Engine, podman_engine, podman_present

BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
POLICY = {"type": "http", "http": {"path": "/index.html", "expectedStatusCode": 200},
          "intervalSeconds": 1, "timeoutSeconds": 1, "retries": 3}
CHECK = HealthCheck(port=8080, path="/index.html", interval_seconds=1, timeout_seconds=1,
                    retries=3)


@dataclass
class Figures:
    deploys: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    attempt_frames: dict[str, list[float]] = field(default_factory=dict)
    # Where each deploy's time goes, from the events' recorded times: POST sent -> placed
    # (the admin's decision), placed -> ready (the agent: work poll, start, checks, report).
    admin_part: list[float] = field(default_factory=list)
    agent_part: list[float] = field(default_factory=list)
    store_frames: dict[str, list[float]] = field(default_factory=dict)
    progress_frames: int = 0  # the agent's lines on the attempts' streams (not timed)
    # placed -> ready split by the agent's progress lines (GET /deployments/{id}/logs).
    segments: dict[str, list[float]] = field(default_factory=dict)
    first_probe_failed: int = 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def seconds_since(stamp: str) -> float:
    return time.time() - datetime.fromisoformat(stamp).timestamp()


async def sse(client: httpx.AsyncClient, path: str, **params: Any
              ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) per frame, as each arrives."""
    async with client.stream("GET", path, params=params, timeout=None) as answer:
        answer.raise_for_status()
        name, data = "message", ""
        async for line in answer.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                yield name, json.loads(data)
                name, data = "message", ""


# --- the deployment under test --------------------------------------------------------------
async def watch_attempt(  # noqa: PLR0913 - one attempt's clocks, named
        client: httpx.AsyncClient, deployment: str, sent: float, opened: float,
        figures: Figures, succeeded: asyncio.Future[float]) -> None:
    """One attempt's stream from its first event until its container stopped: resolves
    `succeeded` with the arrival of `succeeded`, and times every frame recorded after
    `opened` (the POST's answer: earlier ones are history)."""
    placed = sent
    async for name, data in sse(client, f"/deployments/{deployment}/events/stream"):
        arrived = time.perf_counter()
        if name == "progress":  # the agent's lines while it starts the container
            figures.progress_frames += 1
            continue
        event = data["event"]
        if not succeeded.done() and event["status"] not in ("created", "running"):
            if event["status"] == "succeeded":
                succeeded.set_result(arrived)
            else:
                succeeded.set_exception(AssertionError(f"{deployment}: {event}"))
        recorded = datetime.fromisoformat(event["emittedAt"]).timestamp()
        if event["eventType"] == "deployment-placed":
            placed = recorded
            figures.admin_part.append(placed - sent)
        elif event["eventType"] == "deployment-ready":
            figures.agent_part.append(recorded - placed)
        if recorded > opened:
            figures.attempt_frames.setdefault(event["eventType"], []).append(
                seconds_since(event["emittedAt"]))
        if event["eventType"] == "deployment-terminated":
            return


async def watch_store(client: httpx.AsyncClient, figures: Figures) -> None:
    async for name, data in sse(client, "/api/v1/events/stream"):
        figures.store_frames.setdefault(name, []).append(seconds_since(data["occurred_at"]))


async def deploy(client: httpx.AsyncClient, context: dict[str, str], figures: Figures,
                 watchers: set[asyncio.Task[None]]) -> float:
    began, sent = time.perf_counter(), time.time()
    answer = await client.post("/deployments", json=context)
    assert answer.status_code == 201, answer.text
    opened = time.time()
    succeeded: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(watch_attempt(client, answer.json()["id"], sent, opened,
                                             figures, succeeded))
    watchers.add(task)
    task.add_done_callback(watchers.discard)
    took = await asyncio.wait_for(succeeded, 120) - began
    await split(client, answer.json()["id"], figures)
    return took


SEGMENTS = ("placed -> container created (work poll, create)", "-> started",
            "-> a probe passed", "-> ready recorded (report)")


async def split(client: httpx.AsyncClient, deployment: str, figures: Figures) -> None:
    """Where the agent's part went, from the recorded times of the attempt's log lines
    (not measured: read after it succeeded)."""
    logs = (await client.get(f"/deployments/{deployment}/logs")).json()["logs"]
    agent = [e for e in logs if e["source"] == "edge-agent"]

    def at(entry: dict[str, Any]) -> float:
        return datetime.fromisoformat(entry["timestamp"]).timestamp()

    try:
        marks = [at(next(e for e in logs if e["phase"] == "pull")),
                 at(next(e for e in agent if e["phase"] == "pull")),
                 at(next(e for e in agent if e["phase"] == "start")),
                 at(next(e for e in agent if e["message"].endswith("; healthy"))),
                 at(next(e for e in agent if e["message"].startswith("ready")))]
    except StopIteration:
        return  # an agent that sends no progress
    for name, (a, b) in zip(SEGMENTS, itertools.pairwise(marks), strict=True):
        figures.segments.setdefault(name, []).append(b - a)
    figures.first_probe_failed += any(e["message"].startswith("probe 1 failed") for e in agent)


# --- the baseline ---------------------------------------------------------------------------
async def direct(docker: aiodocker.Docker) -> float:
    """The same container and check as the agent runs, straight on podman's API."""
    spec = ContainerSpec(request_id=f"bench{uuid.uuid4().hex[:8]}", image=IMAGE, env={},
                         cpu_units=256, memory_mb=256, health=CHECK,
                         ports=[PortMapping(port=8080, protocol="HTTP", name="8080")])
    config = container_config(spec)
    config["Labels"] = {"edge.bench": "direct"}  # not the agent's label: it must not adopt it
    began = time.perf_counter()
    container = await docker.containers.create_or_replace(name=f"direct-{spec.request_id}",
                                                          config=config)
    try:
        await container.start()
        info = await container.show()
        address = published_address(CHECK, info["NetworkSettings"]["Ports"] or {})
        assert address is not None
        found = await wait_healthy(CHECK, *address)
        took = time.perf_counter() - began
        assert found is None, found
        return took
    finally:
        await container.delete(force=True)


# --- setting up (not measured) ----------------------------------------------------------------
def enrollment_key(url: str) -> str:
    services = services_for(url)
    services.start()
    try:
        services.clusters.create(CreateCluster(name="bench"))
        key_id = services.enrollment_keys.issue("bench", IssueEnrollmentKey())
        row = services.view.get("enrollment_keys", key_id)
        assert row is not None
        return str(row["key"])
    finally:
        services.close()


@contextmanager
def agent(engine: Engine, admin: str, key: str, home: Path) -> Iterator[None]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ENROLLMENT_KEY": key}
    with open(home / "agent.log", "wb") as out:
        proc = subprocess.Popen([
            str(BIN / "edge-agent"), "--admin-url", admin, "--max-load-per-core", "1000",
            "--min-free-disk-percent", "0", "--ssh-port", "0", "--docker-url", engine.url,
            "--public-ip", "127.0.0.1", "--cpu-units", "4096", "--memory-mb", "4096",
            "--metrics-interval", "0"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        stop_process(proc)


def resource(client: httpx.Client) -> dict[str, str]:
    def post(path: str, body: dict[str, Any]) -> Any:
        answer = client.post(path, json=body)
        assert answer.is_success, f"{path}: {answer.text}"
        return answer.json()

    project = post("/projects", {"name": "Bench"})["id"]
    environment = post("/environments", {"projectId": project, "name": "production",
                                         "kind": "production"})["id"]
    resource = post("/resources", {"projectId": project, "environmentId": environment,
                                   "name": "web"})["id"]
    post(f"/resources/{resource}/source", {"source": {"locator": IMAGE}})
    post(f"/resources/{resource}/network-profile", {"networkProfile": {"internalPort": 8080}})
    post(f"/resources/{resource}/health-policy", {"healthCheck": POLICY})
    deadline = time.monotonic() + 60
    while not [h for h in client.get("/api/v1/hosts").json()["data"] if h["cpu_units"] == 4096]:
        assert time.monotonic() < deadline, "the agent reported no host profile in 60 s"
        time.sleep(0.2)
    return {"projectId": project, "environmentId": environment, "resourceId": resource}


async def measure(base: str, engine: Engine, context: dict[str, str], count: int) -> Figures:
    figures, watchers = Figures(), set[asyncio.Task[None]]()
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with (httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client,
                aiodocker.Docker(url=engine.url) as docker):
        store = asyncio.create_task(watch_store(client, figures))
        await deploy(client, context, Figures(), watchers)  # warm-up: image and code paths
        await direct(docker)
        for _ in range(count):
            figures.deploys.append(await deploy(client, context, figures, watchers))
            figures.direct.append(await direct(docker))
        await asyncio.sleep(12)  # the last replaced attempt stops (10 s grace at most)
        for task in (store, *watchers):
            task.cancel()
        await asyncio.gather(store, *watchers, return_exceptions=True)
    return figures


def report(figures: Figures, count: int) -> None:
    ours, base = figures.deploys, figures.direct
    print(f"deploy, POST /deployments -> succeeded (busybox httpd, HTTP check GET /index.html "
          f"every 1 s; {count} sequential deploys of one resource, each replacing the last; "
          f"PostgreSQL, 1 agent, podman): p50 {pct(ours, .5):.0f} ms, p99 {pct(ours, .99):.0f} "
          f"ms, mean {statistics.mean(ours) * 1000:.0f} ms")
    print(f"  baseline, the same container created+started+checked on podman via aiodocker: "
          f"p50 {pct(base, .5):.0f} ms, p99 {pct(base, .99):.0f} ms -> ratio p50 "
          f"{pct(ours, .5) / pct(base, .5):.2f}x, p99 {pct(ours, .99) / pct(base, .99):.2f}x")
    print(f"  where it goes (recorded times, p50): POST sent -> placed "
          f"{pct(figures.admin_part, .5):.0f} ms, placed -> ready (agent: work poll, create, "
          f"start, checks, report) {pct(figures.agent_part, .5):.0f} ms")
    if figures.segments:
        print("  placed -> ready by the agent's progress lines (p50): " + ", ".join(
            f"{name} {pct(figures.segments[name], .5):.0f} ms" for name in SEGMENTS
            if name in figures.segments) + f"; the first probe failed in"
            f" {figures.first_probe_failed} of {len(figures.segments[SEGMENTS[0]])}")
    late = [sum(v > CHECK.interval_seconds for v in values) for values in (ours, base)]
    print(f"  longer than one probe interval (1 s; before early probes, a failed first probe"
          f" meant the next came 1 s later): {late[0]} of {len(ours)} deploys, {late[1]} of"
          f" {len(base)} direct starts")
    print(f"  progress frames (the agent's lines while it starts) on the attempts' streams:"
          f" {figures.progress_frames}")
    for title, frames in (("GET /deployments/{id}/events/stream", figures.attempt_frames),
                          ("GET /api/v1/events/stream", figures.store_frames)):
        every = [v for values in frames.values() for v in values]
        if not every:
            print(f"{title}: no live frames")
            continue
        kinds = ", ".join(f"{k} {len(v)}" for k, v in sorted(frames.items()))
        print(f"events stream, recorded -> SSE frame arrival, {title} during the deploys: "
              f"p50 {pct(every, .5):.1f} ms, p99 {pct(every, .99):.1f} ms, max "
              f"{max(every) * 1000:.1f} ms ({len(every)} frames: {kinds})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploys", type=int, default=20)
    args = parser.parse_args()
    if not podman_present() or shutil.which("busybox") is None:
        raise SystemExit("needs podman, runc and busybox-static")
    with (tempfile.TemporaryDirectory(prefix="bench-resources-") as tmp,
          podman_engine(Path(tmp)) as engine, fresh_schema() as url):
        key = enrollment_key(url)
        with server(url, Path(tmp) / "serve.log", False) as client:
            base = str(client.base_url).rstrip("/")
            with agent(engine, base, key, Path(tmp)):
                context = resource(client)
                figures = asyncio.run(measure(base, engine, context, args.deploys))
    report(figures, args.deploys)


if __name__ == "__main__":
    main()
