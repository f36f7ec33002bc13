"""What an idle fleet costs its admin: agents whose long polls wait with nothing to do (issue 18).

Run: .venv/bin/python -m bench.idle_fleet [--base 6197d63] [--agents 1000] [--seconds 60]
[--rounds 2]
`edge-admin serve` of `--base` (exported with `git archive`, as bench.ab_reads does) and of this
checkout both start, each on a fresh PostgreSQL schema with `--agents` enrolled nodes. For
each, this process keeps that many agents long-polling `POST /agent/v1/work` (wait_seconds 25,
as edge-agent does; a new poll as soon as one is answered) and heartbeating every 10 s (the
admin's default interval, so no node turns unhealthy), and, after a warm-up of one full
poll, reads from /proc the CPU the serve process and its PostgreSQL backends spend over
`--seconds`. The two fleets take turns (`--rounds` each, alternating; the other server idles
meanwhile): one Python process cannot drive both at once without becoming the bottleneck. The
base is the same-run baseline; the table shows the median of the rounds. Nothing is recorded
meanwhile: every look an agent's poll makes finds no work.
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

import httpx

from bench.ab_reads import export
from bench.commands import ROOT, fresh_schema, relay_settled, server
from bench.profile_write import backends, cpu_seconds, serve_pid
from bench.suite import node_ids

WAIT = 25.0  # edge-agent's wait_seconds
HEARTBEAT = 10.0  # HEARTBEAT_INTERVAL_SECONDS' default


class Admin:
    """A started serve with its enrolled nodes' tokens."""

    def __init__(self, stack: ExitStack, name: str, root: Path, agents: int) -> None:
        self.name, self.app_name = name, f"idle-{uuid.uuid4().hex[:8]}"
        os.environ["PGAPPNAME"] = self.app_name
        url = stack.enter_context(fresh_schema())
        self.client = stack.enter_context(server(url, Path(f"/tmp/bench-idle-{name[:4]}.log"),
                                                 False, root))
        relay_settled(url)
        self.client.post("/api/v1/clusters", json={"name": "idle"}).raise_for_status()
        key = self.client.post("/api/v1/clusters/idle/enrollment_keys",
                               json={"uses_remaining": None}).json()["data"]["key"]
        for _ in range(agents):
            self.client.post("/agent/v1/enroll", json={
                "enrollment_key": key, "id_type": "random", "version": "1.0.0",
            }).raise_for_status()
        self.tokens = node_ids(self.client, "api_token")[:agents]
        self.pid = serve_pid(int(str(self.client.base_url).rsplit(":", 1)[1].strip("/")))
        self.polls = 0

    def cpu(self) -> tuple[float, float]:
        return cpu_seconds(self.pid), sum(map(cpu_seconds, backends(self.app_name)))


async def agent(http: httpx.AsyncClient, admin: Admin, token: str, stop: asyncio.Event) -> None:
    headers = {"authorization": f"Bearer {token}"}
    await asyncio.sleep(hash(token) % 1000 / 1000 * 5)  # agents start spread, as in a fleet
    beating = asyncio.create_task(heartbeats(http, admin, headers, stop))
    try:
        await polls(http, admin, headers, stop)
    finally:
        beating.cancel()


async def heartbeats(http: httpx.AsyncClient, admin: Admin, headers: dict[str, str],
                     stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            (await http.post("/agent/v1/heartbeat", json={"status": "healthy"},
                             headers=headers)).raise_for_status()
        except httpx.HTTPError as exc:
            print(f"{admin.name}: {exc!r}", file=sys.stderr)
        await asyncio.sleep(HEARTBEAT)


async def polls(http: httpx.AsyncClient, admin: Admin, headers: dict[str, str],
                stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            answer = await http.post("/agent/v1/work", json={"wait_seconds": WAIT},
                                     headers=headers)
            answer.raise_for_status()
            admin.polls += 1
        except httpx.HTTPError as exc:
            print(f"{admin.name}: {exc!r}", file=sys.stderr)
            await asyncio.sleep(1)


async def measure(admins: list[Admin], seconds: float) -> dict[str, tuple[float, float, int]]:
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    clients = [httpx.AsyncClient(base_url=str(a.client.base_url), timeout=WAIT + 30,
                                 limits=limits) for a in admins]
    tasks = [asyncio.create_task(agent(http, a, token, stop))
             for http, a in zip(clients, admins, strict=True) for token in a.tokens]
    await asyncio.sleep(WAIT + 10)  # every agent has started and waited through one poll
    before = {a.name: (*a.cpu(), a.polls) for a in admins}
    started = time.monotonic()
    await asyncio.sleep(seconds)
    spent = time.monotonic() - started
    after = {a.name: (*a.cpu(), a.polls) for a in admins}
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for http in clients:
        await http.aclose()
    return {name: ((after[name][0] - b[0]) / spent, (after[name][1] - b[1]) / spent,
                   after[name][2] - b[2]) for name, b in before.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="6197d63", help="the commit to compare against")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with ExitStack() as stack:
        base_root = export(args.base, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        admins = [Admin(stack, f"base {args.base}", base_root, args.agents),
                  Admin(stack, "this", ROOT, args.agents)]
        print(f"{args.agents} idle agents, each long-polling (wait_seconds {WAIT:g}) and "
              f"heartbeating every {HEARTBEAT:g} s; {args.seconds:g} s measured after "
              f"{WAIT + 10:g} s of warm-up; {os.cpu_count()} CPUs")
        rounds: dict[str, list[tuple[float, float, int]]] = {}
        for round_ in range(args.rounds):
            for admin in admins[round_ % 2:] + admins[:round_ % 2]:
                rounds.setdefault(admin.name, []).append(
                    asyncio.run(measure([admin], args.seconds))[admin.name])
            print(f"round {round_ + 1} of {args.rounds} done")
    print(f"{'server':<16}{'serve CPU':>11}{'PostgreSQL CPU':>16}{'polls answered/s':>18}")
    for name, figures in rounds.items():
        serve, pg, polls = (statistics.median(f[i] for f in figures) for i in range(3))
        print(f"{name:<16}{serve * 100:>10.1f}%{pg * 100:>15.1f}%{polls / args.seconds:>18.1f}")
    print("(CPU in % of one core over the window, median of the rounds)")


if __name__ == "__main__":
    main()
