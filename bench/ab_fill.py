"""A/B of the filling in of the message ids of events saved before their index existed
(adapters/event_message_ids.py): events/s, each tree its own way, on one log.

Run: .venv/bin/python -m bench.ab_fill --trees BASE_CHECKOUT . [--rounds 3] [--events 200000]
Each tree is another checkout (`git worktree add /tmp/base <commit>`). The log (`--events`
public events, a project created each) is written once per database kind; each round empties
the index and its record of progress, as on a database of the release before, then every tree's
code fills it in a process of its own (PYTHONPATH), in turn: a tree that fills before serving
(`fill_message_ids`) through that function, one that fills in the background through the
worker a serving process runs (entrypoints/workers/message_id_fill.py). The table shows each
tree's median and its ratio to the first tree's, round by round (a ratio holds on a noisy
machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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


@contextmanager
def database(kind: str, prefix: str) -> Iterator[str]:
    """The URL of a fresh database of `kind` (a schema named by `prefix`), dropped after."""
    from bench.commands import fresh_schema

    if kind == "postgres":
        with fresh_schema(prefix) as url:
            yield url
        return
    folder = Path(f"/tmp/{prefix}{uuid.uuid4().hex[:8]}")
    folder.mkdir()
    try:
        yield f"sqlite:///{folder}/edge.sqlite3"
    finally:
        shutil.rmtree(folder)


def _services(url: str) -> Any:
    from entrypoints.bootstrap import build_services
    from entrypoints.settings import Settings

    return build_services(Settings.from_env({"DATABASE_URL": url, "API_KEY": "bench"},
                                            run_projections=False))


def write_log(url: str, events: int) -> None:
    from domain.project import Project

    services = _services(url)
    try:
        at = datetime.now(UTC)
        for start in range(0, events, 1000):
            size = min(1000, events - start)
            services.store.save(*[Project.create(uuid.uuid4(), "p", at) for _ in range(size)])
    finally:
        services.close()


def forget(url: str) -> None:
    """The index as a database of the release before has it: no entry, no progress."""
    from adapters.event_message_ids import FILL, TABLE

    services = _services(url)
    try:
        recorder: Any = services.store.recorder
        with recorder.datastore.transaction(commit=True) as cursor:
            for table in (TABLE, FILL):
                schema = getattr(recorder.datastore, "schema", None)
                cursor.execute(f'DELETE FROM "{schema}".{table}' if schema
                               else f"DELETE FROM {table}")
    finally:
        services.close()


def worker(url: str) -> None:
    """In the tree's process: events/s of its filling, as JSON on stdout."""
    from adapters import event_message_ids

    before = getattr(event_message_ids, "fill_message_ids", None)
    if before is not None:  # the tree fills before serving
        from application.store import EdgeStore
        from entrypoints.settings import Settings

        store = EdgeStore(env=Settings.from_env({"DATABASE_URL": url}).persistence_env("edge"))
        started = time.perf_counter()
        filled = before(store.recorder)
        seconds = time.perf_counter() - started
        store.close()
    else:
        from entrypoints.workers.message_id_fill import run_message_id_fill

        services = _services(url)  # records where the filling ends, as a start does
        started = time.perf_counter()
        asyncio.run(run_message_id_fill(services, asyncio.Event()))
        seconds = time.perf_counter() - started
        filled = services.message_id_fill.positions
        services.close()
    print(json.dumps({"events_s": filled / seconds, "filled": filled}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", nargs="+", default=["."], help="checkouts; the first is A")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--kinds", nargs="+", default=["postgres", "sqlite"])
    parser.add_argument("--prefix", default="bench_fill_", help="names the scratch databases")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    trees = [str(Path(t).resolve()) for t in args.trees]
    print(f"{args.rounds} rounds; filling in the ids of {args.events:,} public events")
    print(f"{'kind':<10}{'tree':<28}{'events/s':>10}{'ratio':>8}")
    for kind in args.kinds:
        results: dict[str, list[float]] = {t: [] for t in trees}
        with database(kind, args.prefix) as url:
            write_log(url, args.events)
            for round_ in range(args.rounds):
                order = trees[round_ % len(trees):] + trees[:round_ % len(trees)]
                for tree in order:
                    forget(url)
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", url],
                        env={**os.environ, "PYTHONPATH": tree}, cwd=tree, check=True,
                        capture_output=True, text=True).stdout
                    result = json.loads(out.strip().splitlines()[-1])
                    assert result["filled"] == args.events, result
                    results[tree].append(result["events_s"])
        base = results[trees[0]]
        for tree in trees:
            ratios = [r / b for r, b in zip(results[tree], base, strict=True)]
            print(f"{kind:<10}{tree[-27:]:<28}{statistics.median(results[tree]):>10,.0f}"
                  f"{statistics.median(ratios):>7.2f}x")


if __name__ == "__main__":
    main()
