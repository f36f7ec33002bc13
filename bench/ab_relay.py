"""A/B of the relay's throughput into JetStream, with less noise a round than bench.ab_index.

Run: .venv/bin/python -m bench.ab_relay --trees BASE_CHECKOUT . [--rounds 40] [--events 40000]
Each tree (another checkout: `git worktree add /tmp/base <commit>`) gets one process (its code on
PYTHONPATH) that writes `events` public events once, then, each round, relays all of them again:
a new Relay from position 0 under a tracking name of its own, to a fresh stream, the index of
message ids emptied. The trees take turns (the order alternates), so a neighbour's burst lands on
both; writing once leaves more rounds for the same time. Printed: each round's figures, then the
medians of the per-round ratios to the first tree's: events/s to the last publish, events/s to
the record of the head, and the relay process's CPU a message.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import IO

KEYS = ("published_per_s", "recorded_per_s", "cpu_us")


def _beside(name: str) -> ModuleType:
    """A bench module of this checkout: `bench.*` on the worker's path is the tree under test's,
    which may predate what is used here (a base commit)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(events: int, prefix: str) -> None:
    """In the tree's process: writes, says "ready", then relays once for each line read."""
    import nats

    from adapters.nats_publisher import JetStreamPublisher
    from application.relay import Relay
    from domain.event_stream import StreamSettings
    from entrypoints.bootstrap import build_services
    from entrypoints.settings import Settings

    ab_index = _beside("ab_index")
    with ab_index.scratch(prefix) as env:
        services = build_services(Settings.from_env(env, run_projections=False))
        try:
            ab_index.write_projects(services, events)
            head = services.store.recorder.max_notification_id() or 0
            datastore = services.store.recorder.datastore  # type: ignore[attr-defined]
            print("ready", flush=True)
            for round_, _ in enumerate(sys.stdin):
                stream = f"{prefix.upper()}AB{uuid.uuid4().hex[:8].upper()}"
                with datastore.transaction(commit=True) as curs:
                    curs.execute(f'TRUNCATE "{datastore.schema}".event_message_ids')
                publisher = JetStreamPublisher(
                    env["NATS_URL"], StreamSettings(stream, f"{stream.lower()}."))
                relay = Relay(services.store, publisher, services.relay.tracking)
                relay.tracking_name = f"relay:ab{round_}"
                published, recorded, cpu = ab_index.relay_times(relay, events, head)

                async def drop(name: str = stream) -> None:
                    nc = await nats.connect(env["NATS_URL"])
                    await nc.jetstream().delete_stream(name)
                    await nc.close()

                asyncio.run(drop())
                print(json.dumps({"published_per_s": events / published,
                                  "recorded_per_s": events / recorded,
                                  "cpu_us": cpu / events * 1e6}), flush=True)
        finally:
            services.close()


def _line(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.readline()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", nargs=2, required=True, help="checkouts; the first is A")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--prefix", default="bench_",
                        help="of the scratch schema and streams (a session's own)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.events, args.prefix)
        return
    trees = [str(Path(t).resolve()) for t in args.trees]
    workers = {t: subprocess.Popen(
        [sys.executable, __file__, "--worker", "--events", str(args.events), "--prefix",
         args.prefix, "--trees", *trees],
        env={**os.environ, "PYTHONPATH": t}, cwd=t, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for t in trees}
    for process in workers.values():
        while _line(process.stdout).strip() != "ready":
            assert process.poll() is None, "a worker failed before it was ready"
    results: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for round_ in range(args.rounds):
        for tree in trees[round_ % 2:] + trees[:round_ % 2]:
            process = workers[tree]
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
            results[tree].append(json.loads(_line(process.stdout)))
        a, b = (results[t][-1] for t in trees)
        print(f"round {round_}: " + "  ".join(
            f"{k} {a[k]:,.0f} -> {b[k]:,.0f} ({b[k] / a[k]:.3f})" for k in KEYS), flush=True)
    for process in workers.values():
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    print(f"{args.rounds} rounds of {args.events} public events; {trees[1]} against {trees[0]}")
    for key in KEYS:
        ratios = [b[key] / a[key] for a, b in zip(*(results[t] for t in trees), strict=True)]
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f"{key:<16} median A {statistics.median(r[key] for r in results[trees[0]]):>9,.0f}"
              f"  B {statistics.median(r[key] for r in results[trees[1]]):>9,.0f}"
              f"  ratio {statistics.median(ratios):.3f} (quartiles {low:.3f}-{high:.3f};"
              f" B higher in {sum(r > 1 for r in ratios)}/{len(ratios)})")


if __name__ == "__main__":
    main()
