"""What one delivery claim costs with many deliveries owed: this checkout against `--base`.

Run: .venv/bin/python -m bench.delivery_claims [--base bb6e507] [--claims 25] [--prefix bench_]
The delivery queue of `--base` (its adapters/sql_delivery_queue.py, read with `git show`, with
the indexes it makes) and of this checkout each get a fresh PostgreSQL schema (and a SQLite file)
holding the same rows, written in SQL:
- tie: 100,000 deliveries due at one instant, as one fan-out leaves them (1,000 events to 100
  webhooks): a plain claim of 64, one that leaves a webhook out, one webhook's share (16);
- retries (PostgreSQL): 2,000 webhooks each holding one retry due in an hour, a slow webhook
  with 20,000 due for an hour and a healthy one with 1,000 due: a plain claim of 64 and one
  that leaves the slow webhook out (what the worker claims while a webhook is slow); "one
  down": the same and a webhook holding 100,000 retries (its receiver down);
- crowd (PostgreSQL): the slow backlog and 2,000 webhooks each with one delivery due and 30
  retries behind it, the same two claims (every webhook has to be visited).
Each claim is timed from the caller (one transaction, as the worker makes it); what it took is
released untimed, so every claim finds the same queue. The two take turns claim by claim, and
the table gives each one's median and least time, and their ratios (a ratio holds on a noisy
machine; the least time is the one other load touched least).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

import adapters.sql_delivery_queue as this_code
from entrypoints.settings import Settings

BASE = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
COLUMNS = ("id, webhook_id, message_id, event_type, position, body, status, next_attempt_at, "
           "created_at, updated_at")


def base_code(commit: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{commit}:adapters/sql_delivery_queue.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("base_sql_delivery_queue", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{commit}:adapters/sql_delivery_queue.py", "exec"),
         module.__dict__)
    return module


@contextmanager
def postgres_queue(code: ModuleType, prefix: str) -> Iterator[Any]:
    schema = prefix + uuid.uuid4().hex[:8]
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    settings = Settings.from_env({"DATABASE_URL": f"{BASE}?schema={schema}",
                                  "API_KEY": "bench-" * 6, "MASTER_KEY": "bench-master-key"})
    env = Environment("webhooks", settings.persistence_env("webhooks"))
    factory: Any = InfrastructureFactory.construct(env=env)
    queue = code.PostgresDeliveryQueue(factory.datastore, owned=True)
    try:
        yield queue
    finally:
        queue.close()
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def fill(queue: Any, rows: list[tuple[uuid.UUID, int, datetime]]) -> None:
    """(webhook, position, due) rows, written at once; then the planner's statistics."""
    marks = ", ".join(queue.p for _ in range(10))
    with queue._tx() as cur:
        cur.executemany(
            f"INSERT INTO {queue.t} ({COLUMNS}) VALUES ({marks})",
            [(queue._uuid(uuid.uuid4()), queue._uuid(webhook), queue._uuid(uuid.uuid4()),
              "edge.node.registered", position, b"{}", "pending", queue._time(due),
              queue._time(NOW), queue._time(NOW)) for webhook, position, due in rows])
        cur.execute(f"ANALYZE {queue.t}")


def claim_once(queue: Any, limit: int, **which: Any) -> float:
    started = time.perf_counter()
    claims = queue.claim(NOW, limit, 30, **which)
    took = time.perf_counter() - started
    assert claims, "nothing claimed"
    marks = ", ".join(queue.p for _ in claims)
    with queue._tx() as cur:
        cur.execute(f"UPDATE {queue.t} SET lease_until = NULL WHERE id IN ({marks})",
                    [queue._uuid(c.id) for c in claims])
    return took


def tie_rows() -> tuple[list[tuple[uuid.UUID, int, datetime]], list[uuid.UUID]]:
    webhooks = [uuid.uuid4() for _ in range(100)]
    return [(w, event * 100 + i, NOW) for event in range(1000)
            for i, w in enumerate(webhooks)], webhooks


def retry_rows(down: int = 0) -> tuple[list[tuple[uuid.UUID, int, datetime]], list[uuid.UUID]]:
    """2,000 webhooks holding a retry each, a slow one's due backlog, a healthy one's due
    deliveries; and `down` retries of one webhook whose receiver is down."""
    slow, healthy = uuid.uuid4(), uuid.uuid4()
    later, earlier = NOW + timedelta(hours=1), NOW - timedelta(hours=1)
    rows = [(uuid.uuid4(), n, later) for n in range(2000)]
    rows += [(slow, 10_000 + n, earlier) for n in range(20_000)]
    rows += [(healthy, 100_000 + n, NOW) for n in range(1000)]
    rows += [(uuid.UUID(int=2**128 - 1), 200_000 + n, later) for n in range(down)]
    return rows, [slow, healthy]


def crowd_rows() -> tuple[list[tuple[uuid.UUID, int, datetime]], list[uuid.UUID]]:
    """2,000 webhooks each with one delivery due and 30 retries behind it, and a slow one's
    due backlog: every webhook must be visited."""
    slow, later = uuid.uuid4(), NOW + timedelta(hours=1)
    rows = [(slow, n, NOW - timedelta(hours=1)) for n in range(20_000)]
    for w in range(2000):
        webhook = uuid.uuid4()
        rows += [(webhook, 100_000 + w * 31 + n, NOW if n == 0 else later) for n in range(31)]
    return rows, [slow]


def compare(name: str, queues: dict[str, Any], claims: int,
            ways: dict[str, tuple[int, Callable[[list[uuid.UUID]], dict[str, Any]]]],
            webhooks: list[uuid.UUID]) -> None:
    for way, (limit, which) in ways.items():
        times: dict[str, list[float]] = {label: [] for label in queues}
        for _ in range(claims):
            for label, queue in queues.items():
                times[label].append(claim_once(queue, limit, **which(webhooks)))
        base, this = (statistics.median(t) * 1000 for t in times.values())
        least_base, least_this = (min(t) * 1000 for t in times.values())
        print(f"{name:<30} {way:<26} {base:8.2f} {this:8.2f} {base / this:6.1f}x   "
              f"{least_base:8.2f} {least_this:8.2f} {least_base / least_this:6.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="bb6e507", help="the commit to compare against")
    parser.add_argument("--claims", type=int, default=25, help="claims timed per way and code")
    parser.add_argument("--prefix", default="bench_", help="of the PostgreSQL schemas made")
    parser.add_argument("--workloads", nargs="+", default=["tie", "retries", "down", "crowd"],
                        choices=["tie", "retries", "down", "crowd"])
    args = parser.parse_args()
    codes = {f"base {args.base}": base_code(args.base), "this": this_code}
    Way = tuple[int, Callable[[list[uuid.UUID]], dict[str, Any]]]
    plain: Way = (64, lambda w: {})
    tie_ways: dict[str, Way] = {"plain claim (64)": plain, "leaving 1 webhook out": (64, lambda w: {
        "exclude": w[:1]}), "one webhook's share (16)": (16, lambda w: {"only": w[1]})}
    print(f"{'ms a claim':<30} {'':<26} {'median: base':>15} {'this':>8} {'ratio':>7}   "
          f"{'least: base':>8} {'this':>8} {'ratio':>7}")
    tie, tie_hooks = tie_rows()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if "tie" in args.workloads:
            queues = {label: stack.enter_context(postgres_queue(code, args.prefix))
                      for label, code in codes.items()}
            for queue in queues.values():
                fill(queue, tie)
            compare("tie, PostgreSQL", queues, args.claims, tie_ways, tie_hooks)
            lite = {label: code.SQLiteDeliveryQueue(str(folder / f"{i}.db"))
                    for i, (label, code) in enumerate(codes.items())}
            for queue in lite.values():
                stack.callback(queue.close)
                fill(queue, tie)
            compare("tie, SQLite", lite, args.claims, tie_ways, tie_hooks)
        leaving_out: dict[str, Way] = {"plain claim (64)": plain,
                                       "leaving the slow one out": (64, lambda w: {
                                           "exclude": w[:1]})}
        for workload, name, make in (("retries", "retries", retry_rows),
                                     ("down", "retries, one down",
                                      partial(retry_rows, down=100_000)),
                                     ("crowd", "crowd", crowd_rows)):
            if workload not in args.workloads:
                continue
            rows, hooks = make()
            with ExitStack() as schemas:
                queues = {label: schemas.enter_context(postgres_queue(code, args.prefix))
                          for label, code in codes.items()}
                for queue in queues.values():
                    fill(queue, rows)
                compare(f"{name}, PostgreSQL", queues, args.claims, leaving_out, hooks)


if __name__ == "__main__":
    main()
