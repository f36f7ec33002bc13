"""What one look for work and one telemetry report cost for a node whose agent holds its
containers, on the event loop (now) against a worker thread (before), in the same run on the
same database.

Run: PATH=$PWD/.venv/bin:$PATH .venv/bin/python -m bench.held_looks [--containers 4]
     [--looks 3000] [--concurrency 16] [--rounds 3]

A game-server fleet's nodes are like this most of the time: every poll says which containers
the agent runs (and which a runtime control stopped), and the answer is "nothing new". In
process (no HTTP), on PostgreSQL: one node with `containers` ready deployments; `concurrency`
tasks on one event loop look `looks` times in all, either through `_look` (its reads on the
loop's pool) or as before, the live deployments read on the loop and the rest of the look
(`_find`) handed to a worker thread. Then as many telemetry reports of one of its containers
(a log tail and a sample, what each running container sends every 10 s), recorded by
`record_async` or by `record` in a worker thread. Each pair alternates round by round.
Printed: calls/s and the CPU of this process and of its PostgreSQL backends a call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool

from application.agent_protocol import (
    ContainerSample,
    DeploymentReport,
    DeploymentTelemetry,
    EnrollNode,
    WorkPoll,
)
from application.apps import CreateApp, CreateAppVersion
from application.clusters import CreateCluster
from application.deployment_inputs import DeploymentCreate
from application.enrollment_keys import IssueEnrollmentKey
from application.hosts import UpdateHost
from bench.commands import fresh_schema, services_for
from bench.profile_write import backends, cpu_seconds
from entrypoints.bootstrap import Services
from entrypoints.http.agent_work import _find, _look


async def before(svc: Services, node: UUID, poll: WorkPoll) -> Any:
    """The look as it was for a node holding containers: one read on the loop, then a thread."""
    live = await svc.deployments.finder.live_on_async(node)
    return await run_in_threadpool(_find, svc, node, poll, live)


def held_node(svc: Services, containers: int) -> tuple[UUID, list[str]]:
    """A node in Paris running `containers` ready deployments."""
    svc.clusters.create(CreateCluster(name="edge"))
    key_id = svc.enrollment_keys.issue("edge", IssueEnrollmentKey(uses_remaining=None))
    blob = svc.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
    node = svc.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0")).node_id
    svc.hosts.update(node, msgspec.convert({
        "location": {"city": "paris", "latitude": 48.86, "longitude": 2.35},
        "cpu_units": 512 * containers, "memory_mb": 256 * containers}, UpdateHost))
    svc.apps.create(CreateApp(name="game"))
    svc.apps.add_version("game", CreateAppVersion(name="1", image="localhost/game:1",
                                                  cpu_units=512, memory_mb=256))
    held = []
    for _ in range(containers):
        accepted = svc.deployments.deploy(msgspec.convert({
            "application": "game", "version": "1", "users": [{
                "user_type": "geo_coordinates",
                "user_data": {"latitude": 49.0, "longitude": 2.35}}]}, DeploymentCreate))
        assert accepted.node_id == node
        svc.deployments.report(node, accepted.request_id,
                               DeploymentReport(state="ready", public_ip="127.0.0.1"))
        held.append(accepted.request_id)
    return node, held


async def looks(look: Callable[[], Awaitable[Any]], count: int, concurrency: int) -> float:
    """Seconds for `count` looks by `concurrency` tasks."""
    left = [count]

    async def task() -> None:
        while left[0] > 0:
            left[0] -= 1
            await look()

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=4)
    parser.add_argument("--looks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    app_name = f"held-looks-{uuid.uuid4().hex[:8]}"
    figures: dict[str, list[tuple[float, float, float]]] = {}
    with fresh_schema() as url:
        svc = services_for(url, database_app_name=app_name)  # its backends' CPU is counted
        svc.start()
        try:
            node, held = held_node(svc, args.containers)
            poll = WorkPoll(wait_seconds=0, deployments=held, stopped=[])
            report = DeploymentTelemetry(logs="listening\n", sample=ContainerSample(
                cpu_percent=1.5, memory_bytes=1 << 20))
            ways: dict[str, Callable[[], Awaitable[Any]]] = {
                "look, worker thread (before)": partial(before, svc, node, poll),
                "look, event loop (now)": partial(_look, svc, node, poll),
                "telemetry, worker thread (before)": partial(
                    run_in_threadpool, svc.telemetry.record, node, held[0], report),
                "telemetry, event loop (now)": partial(
                    svc.telemetry.record_async, node, held[0], report),
            }

            async def run() -> None:
                answer = await _look(svc, node, poll)
                assert answer == await before(svc, node, poll), "the two looks disagree"
                for round_ in range(args.rounds):
                    for pair in (list(ways)[:2], list(ways)[2:]):
                        for name in pair[round_ % 2:] + pair[:round_ % 2]:
                            pg = sum(map(cpu_seconds, backends(app_name)))
                            cpu = time.process_time()
                            took = await looks(ways[name], args.looks, args.concurrency)
                            cpu = time.process_time() - cpu
                            pg = sum(map(cpu_seconds, backends(app_name))) - pg
                            figures.setdefault(name, []).append((
                                args.looks / took, cpu * 1000 / args.looks,
                                pg * 1000 / args.looks))
                aclose = getattr(svc.view, "aclose", None)
                if aclose is not None:
                    await aclose()

            asyncio.run(run())
        finally:
            svc.close()
    print(f"{os.cpu_count()} CPUs; one node holding {args.containers} ready containers; "
          f"{args.looks} calls by {args.concurrency} tasks, {args.rounds} rounds alternating; "
          "medians")
    print(f"{'call':<36}{'calls/s':>9}{'CPU ms/call: this':>20}{'PostgreSQL':>12}")
    for name, runs in figures.items():
        rate, cpu, pg = (sorted(r[i] for r in runs)[len(runs) // 2] for i in range(3))
        print(f"{name:<36}{rate:>9,.0f}{cpu:>20.3f}{pg:>12.3f}")

if __name__ == "__main__":
    main()
