"""Relay throughput: public events/s from the PostgreSQL store into a JetStream stream.

Run: .venv/bin/python -m bench.relay [--events N]
Writes N public events straight through the store in large transactions (so the write path is
not what is measured), then times the relay publishing all of them to a fresh stream.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from bench.ab_index import scratch
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from entrypoints.bootstrap import build_services
from entrypoints.settings import Settings

BASE = "postgresql://postgres@127.0.0.1:5432/test"
NATS = "nats://127.0.0.1:4222"


def write_events(services: object, count: int) -> None:
    store = services.store  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    cluster = uuid.uuid4()
    written = 0
    while written < count:
        nodes = []
        for _ in range(min(500, (count - written + 1) // 2)):
            node = Node.register(uuid.uuid4(), cluster, "bench", IdType.RANDOM, "1.0", False, {},
                                 ("t", "p"), uuid.uuid4(), now)
            node.change_status(NodeStatus.UNHEALTHY, "bench", now)
            nodes.append(node)
        store.save(*nodes)
        written += 2 * len(nodes)


async def relay_all(services: object, total: int) -> float:
    relay = services.relay  # type: ignore[attr-defined]
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    while relay.published < total:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with scratch() as env:
        services = build_services(Settings.from_env(env, run_projections=False))
        try:
            started = time.perf_counter()
            write_events(services, args.events)
            print(f"wrote {args.events} public events in {time.perf_counter() - started:.1f}s")
            elapsed = asyncio.run(relay_all(services, args.events))
            print(f"relay: {args.events} events in {elapsed:.2f}s = "
                  f"{args.events / elapsed:,.0f} msg/s "
                  "(store read + JSON + JetStream publish with acks + tracking)")
        finally:
            services.close()


if __name__ == "__main__":
    main()
