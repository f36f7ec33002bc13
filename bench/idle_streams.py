"""What open, idle streams cost their admin: dashboards and integrations holding a stream or a
follow=true page open while nothing happens.

Run: .venv/bin/python -m bench.idle_streams [--base 5d0ab5a] [--kind events] [--streams 400]
[--subjects 1] [--seconds 10] [--rounds 2]
`edge-admin serve` of `--base` (exported with `git archive`, as bench.ab_reads does) and of this
checkout both start, each on a fresh PostgreSQL schema. For each in turn, this process opens
`--streams` streams and, after 5 s of warm-up, reads from /proc the CPU the serve process and its
PostgreSQL backends spend over `--seconds`; then the same with no stream open (each server's own
floor). The two servers take turns (`--rounds` each); the base is the same-run baseline and the
table shows the median of the rounds. Nothing is written meanwhile.

`--kind`: `events` (GET /api/v1/events/stream), `deployment` (an Appaloft deployment's
/deployments/{id}/events/stream, its progress lines included), `logs` (a resource's
/resources/{id}/runtime-logs/stream), `deployment-page` and `logs-page` (their follow=true
pages: each holder asks again as its page answers, empty, after 10 s). The streams are spread
over `--subjects` deployments (each of its own resource, deployed and reported ready by a node
played here, with a few log and progress lines), set up before the measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bench.ab_reads import export
from bench.commands import API_KEY, ROOT, fresh_schema, relay_settled, server
from bench.profile_write import backends, cpu_seconds, serve_pid

WARM_UP = 5.0
KINDS = ("events", "deployment", "logs", "deployment-page", "logs-page")


class Subject(NamedTuple):
    deployment: str
    resource: str
    lines: int  # the runtime-log lines it has


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    return response.json()


def deployed(client: httpx.Client, count: int) -> list[Subject]:
    """`count` deployments, each of a resource of its own, placed on one node played here,
    reported ready, with a few runtime-log and progress lines."""
    if not count:
        return []
    project = _ok(client.post("/projects", json={"name": "Bench"}))["id"]
    environment = _ok(client.post("/environments", json={
        "projectId": project, "name": "production", "kind": "production"}))["id"]
    cluster = _ok(client.post("/api/v1/clusters", json={"name": "streams"}))["data"]["name"]
    key = _ok(client.post(f"/api/v1/clusters/{cluster}/enrollment_keys", json={}))["data"]
    enrolled = _ok(client.post("/agent/v1/enroll", json={"enrollment_key": key["key"]}))["data"]
    agent = {"Authorization": f"Bearer {enrolled['api_token']}"}
    _ok(client.patch(f"/api/v1/nodes/{enrolled['node_id']}/host",
                     json={"cpu_units": 1_000_000, "memory_mb": 1_000_000}))
    subjects = []
    for index in range(count):
        resource = _ok(client.post("/resources", json={
            "projectId": project, "environmentId": environment, "name": f"web {index}"}))["id"]
        _ok(client.post(f"/resources/{resource}/source",
                        json={"source": {"locator": "busybox:1.36"}}))
        _ok(client.post(f"/resources/{resource}/network-profile",
                        json={"networkProfile": {"internalPort": 8080}}))
        deployment = _ok(client.post("/deployments", json={
            "projectId": project, "environmentId": environment, "resourceId": resource}))["id"]
        request_id = _ok(client.get(f"/deployments/{deployment}"))["deployment"]["requestId"]
        base = f"/agent/v1/deployments/{request_id}"
        _ok(client.post(f"{base}/progress", headers=agent,
                        json={"phase": "start", "message": "container started"}))
        _ok(client.post(f"{base}/report", headers=agent, json={"state": "ready", "detail": ""}))
        lines = [{"stream": "stdout", "timestamp": f"2026-12-02T09:00:00.{i + 1:06d}Z",
                  "message": f"line {i}"} for i in range(3)]
        _ok(client.post(f"{base}/runtime-logs", headers=agent, json={"lines": lines}))
        subjects.append(Subject(deployment, resource, len(lines)))
    return subjects


class Admin:
    def __init__(self, stack: ExitStack, name: str, root: Path, subjects: int) -> None:
        self.name, self.app_name = name, f"streams-{uuid.uuid4().hex[:8]}"
        os.environ["PGAPPNAME"] = self.app_name
        url = stack.enter_context(fresh_schema())
        self.client = stack.enter_context(server(url, Path(f"/tmp/bench-streams-{name[:4]}.log"),
                                                 False, root))
        relay_settled(url)
        self.subjects = deployed(self.client, subjects)
        self.url = str(self.client.base_url).rstrip("/")
        self.pid = serve_pid(int(self.url.rsplit(":", 1)[1]))

    def cpu(self) -> tuple[float, float]:
        """(serve, its PostgreSQL backends) CPU seconds so far."""
        return cpu_seconds(self.pid), sum(_cpu_or_zero(p) for p in backends(self.app_name))


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # a backend that ended meanwhile
        return 0.0


def held(kind: str, subject: Subject) -> tuple[str, dict[str, str], bool]:
    """(path, query, whether it is a page asked again as it answers) of one holder."""
    if kind == "events":
        return "/api/v1/events/stream", {}, False
    if kind == "deployment":
        return f"/deployments/{subject.deployment}/events/stream", {}, False
    if kind == "logs":
        return f"/resources/{subject.resource}/runtime-logs/stream", {}, False
    if kind == "deployment-page":
        return (f"/deployments/{subject.deployment}/events",
                {"follow": "true", "includeHistory": "false"}, True)
    return (f"/resources/{subject.resource}/runtime-logs",
            {"follow": "true", "cursor": str(subject.lines)}, True)


async def measure(admin: Admin, kind: str, streams: int, seconds: float
                  ) -> tuple[float, float]:
    """(serve, PostgreSQL) CPU in cores while `streams` streams are open and idle."""
    async def hold(client: httpx.AsyncClient, index: int) -> None:
        subjects = admin.subjects or [Subject("", "", 0)]  # events follow no deployment
        path, params, page = held(kind, subjects[index % len(subjects)])
        while page:
            (await client.get(path, params=params)).raise_for_status()
        async with client.stream("GET", path, params=params) as response:
            async for _ in response.aiter_bytes():
                pass

    limits = httpx.Limits(max_connections=streams + 10)
    async with httpx.AsyncClient(base_url=admin.url, timeout=None, limits=limits,
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        holders = [asyncio.create_task(hold(client, i)) for i in range(streams)]
        await asyncio.sleep(WARM_UP)
        serve, pg = admin.cpu()
        started = time.monotonic()
        await asyncio.sleep(seconds)
        serve_after, pg_after = admin.cpu()
        elapsed = time.monotonic() - started
        for task in holders:
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
    return (serve_after - serve) / elapsed, (pg_after - pg) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="5d0ab5a", help="the commit to compare against")
    parser.add_argument("--kind", choices=KINDS, default="events")
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--subjects", type=int, default=1,
                        help="deployments the streams are spread over (not for events)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with ExitStack() as stack:
        base_root = export(args.base, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        subjects = 0 if args.kind == "events" else args.subjects
        admins = [Admin(stack, f"base {args.base}", base_root, subjects),
                  Admin(stack, "this", ROOT, subjects)]
        path, _, page = held(args.kind, Subject("{id}", "{id}", 0))
        print(f"{args.streams} idle {'holders of' if page else 'streams on'} GET {path}"
              f"{'?follow=true' if page else ''} over {max(subjects, 1)} subject(s), "
              "nothing written; "
              f"{args.seconds:g} s measured after {WARM_UP:g} s of warm-up; "
              f"{os.cpu_count()} CPUs")
        figures: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for admin in admins[round_ % 2:] + admins[:round_ % 2]:
                for count in (0, args.streams):
                    figures.setdefault((admin.name, count), []).append(
                        asyncio.run(measure(admin, args.kind, count, args.seconds)))
            print(f"round {round_ + 1} of {args.rounds} done")
    print(f"{'server':<16}{'streams':>8}{'serve CPU':>11}{'PostgreSQL CPU':>16}")
    for (name, count), runs in figures.items():
        serve, pg = (statistics.median(r[i] for r in runs) for i in range(2))
        print(f"{name:<16}{count:>8}{serve * 100:>10.1f}%{pg * 100:>15.1f}%")
    print("(CPU in % of one core over the window, median of the rounds)")


if __name__ == "__main__":
    main()
