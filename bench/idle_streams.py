"""What open, idle event streams cost their admin: dashboards and integrations holding
`GET /api/v1/events/stream` open while nothing happens.

Run: .venv/bin/python -m bench.idle_streams [--base 5d0ab5a] [--streams 400] [--seconds 10]
[--rounds 2]
`edge-admin serve` of `--base` (exported with `git archive`, as bench.ab_reads does) and of this
checkout both start, each on a fresh PostgreSQL schema. For each in turn, this process opens
`--streams` streams and, after 5 s of warm-up, reads from /proc the CPU the serve process and its
PostgreSQL backends spend over `--seconds`; then the same with no stream open (each server's own
floor). The two servers take turns (`--rounds` each); the base is the same-run baseline and the
table shows the median of the rounds. Nothing is written meanwhile.
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
from bench.commands import API_KEY, ROOT, fresh_schema, relay_settled, server
from bench.profile_write import backends, cpu_seconds, serve_pid

WARM_UP = 5.0


class Admin:
    def __init__(self, stack: ExitStack, name: str, root: Path) -> None:
        self.name, self.app_name = name, f"streams-{uuid.uuid4().hex[:8]}"
        os.environ["PGAPPNAME"] = self.app_name
        url = stack.enter_context(fresh_schema())
        self.client = stack.enter_context(server(url, Path(f"/tmp/bench-streams-{name[:4]}.log"),
                                                 False, root))
        relay_settled(url)
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


async def measure(admin: Admin, streams: int, seconds: float) -> tuple[float, float]:
    """(serve, PostgreSQL) CPU in cores while `streams` streams are open and idle."""
    async def hold(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/v1/events/stream") as response:
            async for _ in response.aiter_bytes():
                pass

    limits = httpx.Limits(max_connections=streams + 10)
    async with httpx.AsyncClient(base_url=admin.url, timeout=None, limits=limits,
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        held = [asyncio.create_task(hold(client)) for _ in range(streams)]
        await asyncio.sleep(WARM_UP)
        serve, pg = admin.cpu()
        started = time.monotonic()
        await asyncio.sleep(seconds)
        serve_after, pg_after = admin.cpu()
        elapsed = time.monotonic() - started
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
    return (serve_after - serve) / elapsed, (pg_after - pg) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="5d0ab5a", help="the commit to compare against")
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    with ExitStack() as stack:
        base_root = export(args.base, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        admins = [Admin(stack, f"base {args.base}", base_root), Admin(stack, "this", ROOT)]
        print(f"{args.streams} idle streams on GET /api/v1/events/stream, nothing written; "
              f"{args.seconds:g} s measured after {WARM_UP:g} s of warm-up; "
              f"{os.cpu_count()} CPUs")
        figures: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for admin in admins[round_ % 2:] + admins[:round_ % 2]:
                for count in (0, args.streams):
                    figures.setdefault((admin.name, count), []).append(
                        asyncio.run(measure(admin, count, args.seconds)))
            print(f"round {round_ + 1} of {args.rounds} done")
    print(f"{'server':<16}{'streams':>8}{'serve CPU':>11}{'PostgreSQL CPU':>16}")
    for (name, count), runs in figures.items():
        serve, pg = (statistics.median(r[i] for r in runs) for i in range(2))
        print(f"{name:<16}{count:>8}{serve * 100:>10.1f}%{pg * 100:>15.1f}%")
    print("(CPU in % of one core over the window, median of the rounds)")


if __name__ == "__main__":
    main()
