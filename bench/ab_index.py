"""A/B of what the index of message ids costs (adapters/event_message_ids.py): the CPU of a save,
client and PostgreSQL backend together, and the relay's throughput into JetStream.

Run: .venv/bin/python -m bench.ab_index --trees BASE_CHECKOUT . [--rounds 5]
Each tree is another checkout (`git worktree add /tmp/base <commit>`); every round runs each
tree's code in a process of its own (PYTHONPATH), in turn, on a fresh schema and stream. A save
is `store.save` of `size` new projects (each one public event; read models off, so the save is
the recorder's work alone); CPU is the process's plus its connection's backend's
(/proc/<pid>/stat: PostgreSQL must run on this machine). The relay publishes `--events` public
events written beforehand. The table shows each tree's medians and their ratio to the first
tree's, round by round (a ratio holds on a noisy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE = "postgresql://postgres@127.0.0.1:5432/test"
NATS = "nats://127.0.0.1:4222"
TICKS = os.sysconf("SC_CLK_TCK")


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _saves(services: Any, size: int, count: int) -> float:
    """CPU seconds per save of `size` public events (client and backend)."""
    from domain.project import Project  # the tree's own code (PYTHONPATH)

    store = services.store
    at = datetime.now(UTC)
    with store.recorder.datastore.get_connection() as conn:
        pid = conn.info.backend_pid
    for _ in range(20):  # warm: prepared statements, caches
        store.save(*[Project.create(uuid.uuid4(), "p", at) for _ in range(size)])
    batches = [[Project.create(uuid.uuid4(), "p", at) for _ in range(size)]
               for _ in range(count)]
    client, backend = time.process_time(), _backend_cpu(pid)
    for batch in batches:
        store.save(*batch)
    used = time.process_time() - client + _backend_cpu(pid) - backend
    return used / count


def write_projects(services: Any, events: int) -> None:
    """`events` public events (a project each), 500 a save."""
    from domain.project import Project  # the tree's own code (PYTHONPATH)

    at = datetime.now(UTC)
    written = 0
    while written < events:
        batch = min(500, events - written)
        services.store.save(*[Project.create(uuid.uuid4(), "p", at) for _ in range(batch)])
        written += batch


def relay_times(relay: Any, events: int, head: int) -> tuple[float, float, float]:
    """Runs `relay` until it has published `events` messages and recorded `head`: seconds to
    the last publish and to the record, and its process's CPU seconds."""
    async def run() -> tuple[float, float, float]:
        stop = asyncio.Event()
        started, cpu = time.perf_counter(), time.process_time()
        task = asyncio.create_task(relay.run(stop))
        published = None
        while relay.published < events or relay.recorded != head:
            if published is None and relay.published >= events:
                published = time.perf_counter() - started
            await asyncio.sleep(0.002)
        recorded = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stop.set()
        await task
        return published or recorded, recorded, cpu

    return asyncio.run(run())


def _relay(services: Any, events: int) -> float:
    """Messages/s of the relay publishing `events` public events already written, until
    recorded."""
    write_projects(services, events)
    head = services.store.recorder.max_notification_id()
    return events / relay_times(services.relay, events, head)[1]


@contextmanager
def scratch(prefix: str = "bench_") -> Iterator[dict[str, str]]:
    """The settings of a fresh schema and JetStream stream (named by `prefix`), dropped after."""
    import nats
    import psycopg

    tag = uuid.uuid4().hex[:8]
    schema, stream = f"{prefix}{tag}", f"{prefix.upper()}{tag.upper()}"
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield {"DATABASE_URL": f"{BASE}?schema={schema}", "API_KEY": "bench",
               "NATS_URL": NATS, "NATS_STREAM": stream,
               "NATS_SUBJECT_PREFIX": f"{stream.lower()}."}
    finally:
        async def drop() -> None:
            nc = await nats.connect(NATS)
            with contextlib.suppress(Exception):  # never made if the relay never ran
                await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(drop())
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def worker(saves: int, events: int, prefix: str) -> None:
    """In the tree's process: one round's figures, as JSON on stdout."""
    from entrypoints.bootstrap import build_services
    from entrypoints.settings import Settings

    with scratch(prefix) as env:
        services = build_services(Settings.from_env(env, run_projections=False))
        try:
            result = {"save2_us": _saves(services, 2, saves) * 1e6,
                      "save100_us": _saves(services, 100, max(saves // 10, 20)) * 1e6,
                      "relay_msg_s": _relay(services, events)}
        finally:
            services.close()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", nargs="+", default=["."], help="checkouts; the first is A")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--saves", type=int, default=1000, help="saves of 2 events a round")
    parser.add_argument("--events", type=int, default=20_000, help="events the relay sends")
    parser.add_argument("--prefix", default="bench_",
                        help="of the scratch schema and stream (a session's own)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.saves, args.events, args.prefix)
        return
    trees = [str(Path(t).resolve()) for t in args.trees]
    results: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for round_ in range(args.rounds):
        order = trees[round_ % len(trees):] + trees[:round_ % len(trees)]
        for tree in order:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--saves", str(args.saves),
                 "--events", str(args.events), "--prefix", args.prefix],
                env={**os.environ, "PYTHONPATH": tree}, cwd=tree, check=True,
                capture_output=True, text=True).stdout
            results[tree].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.rounds} rounds; saves of 2 public events x{args.saves}, of 100 "
          f"x{max(args.saves // 10, 20)}; relay of {args.events} public events to JetStream")
    print(f"{'tree':<28}{'save 2 µs CPU':>15}{'ratio':>8}{'save 100 µs':>13}{'ratio':>8}"
          f"{'relay msg/s':>13}{'ratio':>8}")
    base = results[trees[0]]
    for tree in trees:
        row = f"{tree[-27:]:<28}"
        for key in ("save2_us", "save100_us", "relay_msg_s"):
            values = [r[key] for r in results[tree]]
            ratios = [r[key] / b[key] for r, b in zip(results[tree], base, strict=True)]
            row += f"{statistics.median(values):>{13 if key != 'save2_us' else 15},.0f}"
            row += f"{statistics.median(ratios):>7.2f}x"
        print(row)


if __name__ == "__main__":
    main()
