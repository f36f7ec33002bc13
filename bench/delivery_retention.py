"""What deleting old webhook deliveries costs, and what it costs the deliveries sent beside it.

Run: .venv/bin/python -m bench.delivery_retention [--rows 1000000] [--seconds 2] [--rounds 10]
     [--threads 4] [--prefix bench_] [--dialects postgres sqlite]
Per dialect, a fresh queue (a PostgreSQL schema, an SQLite file) made by this checkout holds
`--rows` deliveries finished 30 days ago (a tenth failed), one attempt each. Then, in one run:
- the index's build, as migration 0007 makes it on such a table (enqueues and settlements
  wait meanwhile), and one batch of retention (WEBHOOK_DELIVERY_RETENTION_DAYS=7) with and
  without it;
- delivery throughput: `--threads` threads each enqueue 64 deliveries (8 webhooks), claim them
  and settle each in its own transaction with its attempt, as a worker does, for `--seconds`:
  alone, and beside retention in a thread, a pass a second: "steady", each pass deleting as
  many old deliveries as were settled since the last (the fleet of a week ago sent as much);
  "backlog", each pass as the scheduler's with old ones always left (the first passes after
  an upgrade, for as long as they last); "flat out", batch after batch (as without the
  DELIVERY_RETENTION_SECONDS bound a pass has); and alone without the index (its cost to a
  settlement). They take turns `--rounds` times, each round in another order. Retention and
  the deliveries share the queue object, as in `edge-admin serve`;
- what each batch took (median, 99th percentile, most), and how long the rest of the rows
  took to go with nothing beside.
Figures are ratios to `alone` in the same round (the median of the rounds', and their
quartiles): a ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from adapters.sql_delivery_queue import DELIVERIES, SqlDeliveryQueue
from application.deliveries import FAILED, SUCCEEDED, Attempt, Settlement
from application.delivery_retention import BATCH, DeliveryRetention
from application.ports import NewDelivery
from entrypoints.bootstrap import build_delivery_queue
from entrypoints.settings import Settings
from entrypoints.workers.scheduler import DELIVERY_RETENTION_SECONDS, prune_deliveries

BASE = "postgresql://postgres@127.0.0.1:5432/test"
DAYS = 7.0
BODY = b'{"id":"00000000-0000-0000-0000-000000000000","type":"edge.node.registered","data":{}}'
INDEX = (f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_finished_idx ON {DELIVERIES} (updated_at) "
         "WHERE status <> 'pending'")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@contextmanager
def postgres_queue(prefix: str) -> Iterator[tuple[SqlDeliveryQueue, Callable[[str], float]]]:
    schema = prefix + uuid.uuid4().hex[:8]
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{BASE}?schema={schema}"
    queue = build_delivery_queue(settings(url), SystemClock())
    assert isinstance(queue, SqlDeliveryQueue)
    try:
        with psycopg.connect(BASE, autocommit=True,
                             options=f"-csearch_path={schema}") as admin:

            def run(statement: str) -> float:
                started = time.perf_counter()
                admin.execute(statement)
                return time.perf_counter() - started

            yield queue, run
    finally:
        queue.close()
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def sqlite_queue(folder: Path) -> Iterator[tuple[SqlDeliveryQueue, Callable[[str], float]]]:
    import sqlite3

    path = folder / "edge.sqlite3"
    queue = build_delivery_queue(settings(f"sqlite:///{path}"), SystemClock())
    assert isinstance(queue, SqlDeliveryQueue)
    admin = sqlite3.connect(path, timeout=60, isolation_level=None)

    def run(statement: str) -> float:
        started = time.perf_counter()
        admin.execute(statement)
        return time.perf_counter() - started

    try:
        yield queue, run
    finally:
        admin.close()
        queue.close()


def settings(url: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, "API_KEY": "bench-" * 6,
                              "MASTER_KEY": "bench-master-key"})


def fill(queue: SqlDeliveryQueue, rows: int) -> float:
    """`rows` deliveries finished 30 days ago, a millisecond apart, one attempt each."""
    started, old = time.perf_counter(), datetime.now(UTC) - timedelta(days=30)
    webhooks = [uuid.uuid4() for _ in range(8)]
    chunk = 20_000
    for first in range(0, rows, chunk):
        batch = []
        for n in range(first, min(rows, first + chunk)):
            at = old + timedelta(milliseconds=n)
            status, code = (FAILED, 410) if n % 10 == 0 else (SUCCEEDED, 200)
            batch.append((uuid.uuid4(), webhooks[n % 8], n, status, code, at))
        with queue._tx() as cur:
            cur.executemany(
                f"INSERT INTO {queue.t} (id, webhook_id, message_id, event_type, position, "
                "body, status, attempts, last_status_code, created_at, updated_at, "
                f"delivered_at) VALUES ({', '.join([queue.p] * 12)})",
                [(queue._uuid(i), queue._uuid(w), queue._uuid(uuid.uuid4()),
                  "edge.node.registered", n, BODY, s, 1, c, queue._time(at), queue._time(at),
                  queue._time(at if s == SUCCEEDED else None)) for i, w, n, s, c, at in batch])
            cur.executemany(
                f"INSERT INTO {queue.a} (delivery_id, attempt, at, status_code, error, "
                f"duration_ms) VALUES ({', '.join([queue.p] * 6)})",
                [(queue._uuid(i), 1, queue._time(at), c, None, 20)
                 for i, _, _, _, c, at in batch])
    with queue._tx() as cur:
        cur.execute(f"ANALYZE {queue.t}")
        cur.execute(f"ANALYZE {queue.a}")
    return time.perf_counter() - started


class Deliveries:
    """`threads` worker-like threads, each enqueueing 64 deliveries, claiming them and settling
    each in its own transaction (the worker settles up to 64 at once, each from a thread)."""

    def __init__(self, queue: SqlDeliveryQueue, threads: int) -> None:
        self.queue = queue
        self.settled = [0] * threads

    def total(self) -> int:
        return sum(self.settled)

    def run(self, seconds: float) -> float:
        """Deliveries settled per second, for `seconds`."""
        started = time.perf_counter()

        def work(index: int) -> None:
            webhooks = [uuid.uuid4() for _ in range(8)]
            position = 10**9 + index * 10**8
            while time.perf_counter() - started < seconds:
                owed = []
                for _ in range(64):
                    position += 1
                    owed.append(NewDelivery(uuid.uuid4(), webhooks[position % 8], uuid.uuid4(),
                                            "edge.node.registered", position, BODY))
                self.queue.enqueue(owed)
                now = datetime.now(UTC)
                for claim in self.queue.claim(now, 64, 30):
                    attempt = Attempt(1, now, 200, None, 3)
                    self.settled[index] += self.queue.settle(
                        claim, Settlement(SUCCEEDED, now, None, attempt, None))

        before = self.total()
        workers = [threading.Thread(target=work, args=(i,)) for i in range(len(self.settled))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return (self.total() - before) / (time.perf_counter() - started)


class Pruner:
    """Retention in a thread beside the deliveries, a pass a second, each batch timed:
    - steady: each pass deletes as many old deliveries as were settled since the last one (a
      fleet whose deliveries of a week ago go as fast as new ones come), within the pass's
      DELIVERY_RETENTION_SECONDS;
    - backlog: each pass as the scheduler's (prune_deliveries), with old ones always left;
    - flat out: batch after batch, as without that bound."""

    def __init__(self, queue: SqlDeliveryQueue, mode: str, deliveries: Deliveries) -> None:
        self.mode, self.deliveries = mode, deliveries
        self.batches: list[float] = []
        self.deleted: list[int] = []
        self.retention = DeliveryRetention(Timed(queue, self.batches, self.deleted),
                                           SystemClock())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        seen = self.deliveries.total()
        while not self.stop.is_set():
            passed = time.perf_counter()
            if self.mode == "flat out":
                self.retention.prune(DAYS)
                continue
            if self.mode == "backlog":
                prune_deliveries(self.retention, DAYS)
            else:
                owed, seen = self.deliveries.total() - seen, self.deliveries.total()
                while owed > 0 and time.perf_counter() - passed < DELIVERY_RETENTION_SECONDS:
                    done = self.retention.prune(DAYS)
                    owed = owed - done if done else 0  # none old left: a warning says so
            self.stop.wait(max(0.0, 1.0 - (time.perf_counter() - passed)))

    def __enter__(self) -> Pruner:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


class Timed:
    """The queue's retention port, each batch timed."""

    def __init__(self, queue: SqlDeliveryQueue, times: list[float], deleted: list[int]) -> None:
        self.queue, self.times, self.deleted = queue, times, deleted

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        started = time.perf_counter()
        done = self.queue.delete_finished_before(cutoff, limit)
        self.times.append(time.perf_counter() - started)
        self.deleted.append(done)
        return done


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def bench(name: str, queue: SqlDeliveryQueue, run: Callable[[str], float], args: Any) -> None:
    print(f"\n== {name}: {args.rows:,} deliveries finished 30 days ago, one attempt each "
          f"(filled in {fill(queue, args.rows):.0f} s)", flush=True)
    retention = DeliveryRetention(queue, SystemClock())
    run(f"DROP INDEX IF EXISTS {DELIVERIES}_finished_idx")
    started = time.perf_counter()
    without = retention.prune(DAYS)
    took_without = time.perf_counter() - started
    built = run(INDEX)
    started = time.perf_counter()
    with_index = retention.prune(DAYS)
    took_with = time.perf_counter() - started
    print(f"index build (migration 0007): {built:.2f} s; one batch of retention: "
          f"{took_without * 1000:.0f} ms without it, {took_with * 1000:.1f} ms with it "
          f"({without} and {with_index} deliveries)", flush=True)
    modes = ("steady", "backlog", "flat out")
    rates: dict[str, list[float]] = {"alone": [], "alone, no finished index": [],
                                     **{f"beside retention, {m}": [] for m in modes}}
    batches: dict[str, list[float]] = {m: [] for m in modes}
    spent = dict.fromkeys(modes, 0.0)  # how long each mode's pruner ran
    counts: dict[str, list[int]] = {m: [] for m in modes}  # what each batch deleted
    deliveries = Deliveries(queue, args.threads)
    turns = ["alone", *modes, "no index"]
    for round_ in range(args.rounds):
        # Each round in another order: the machine's load drifts, and a run always first (or
        # last) of its round would carry the drift alone.
        for turn in turns[round_ % len(turns):] + turns[:round_ % len(turns)]:
            if turn == "alone":
                rates["alone"].append(deliveries.run(args.seconds))
            elif turn == "no index":
                run(f"DROP INDEX {DELIVERIES}_finished_idx")
                rates["alone, no finished index"].append(deliveries.run(args.seconds))
                run(INDEX)
            else:
                started = time.perf_counter()
                with Pruner(queue, turn, deliveries) as pruner:
                    rate = deliveries.run(args.seconds)
                spent[turn] += time.perf_counter() - started
                rates[f"beside retention, {turn}"].append(rate)
                batches[turn] += pruner.batches
                counts[turn] += pruner.deleted
    # Each run against `alone` of its own round (seconds apart), then the median of those: the
    # load of this machine moves a run by half between rounds.
    title = f"deliveries settled/s ({args.threads} threads)"
    print(f"{title:<40} {'median':>8} {'ratio':>7} {'quartiles':>11}   runs")
    for label, values in rates.items():
        ratios = sorted(v / a for v, a in zip(values, rates["alone"], strict=True))
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f"{label:<40} {statistics.median(values):8,.0f} {statistics.median(ratios):7.2f} "
              f"{low:5.2f}-{high:4.2f}   " + ", ".join(f"{v:,.0f}" for v in values))
    short = sum(1 for mode in modes for n in counts[mode] if n < BATCH)
    if short:
        print(f"WARNING: {short} batches found fewer than {BATCH} old deliveries: the rows ran "
              "out, and the runs beside retention after that measured less of it (more --rows)")
    for label, times in batches.items():
        if times:
            print(f"a batch of {BATCH} beside deliveries, {label}: median {ms(times, 0.5):.1f} "
                  f"ms, p99 {ms(times, 0.99):.1f} ms, most {max(times) * 1000:.1f} ms "
                  f"({len(times)} batches, {sum(times) / spent[label]:.0%} of the time)")
    started, deleted, times = time.perf_counter(), 0, []
    while True:
        at = time.perf_counter()
        done = retention.prune(DAYS)
        times.append(time.perf_counter() - at)
        deleted += done
        if done < BATCH:
            break
    took = time.perf_counter() - started
    print(f"the remaining {deleted:,} with nothing beside: {took:.1f} s, {deleted / took:,.0f} "
          f"deliveries/s; a batch median {ms(times, 0.5):.1f} ms, p99 {ms(times, 0.99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput run")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4, help="settling deliveries")
    parser.add_argument("--prefix", default="bench_", help="of the PostgreSQL schema made")
    parser.add_argument("--dialects", nargs="+", default=["postgres", "sqlite"],
                        choices=["postgres", "sqlite"])
    args = parser.parse_args()
    if "postgres" in args.dialects:
        with postgres_queue(args.prefix) as (queue, run):
            bench("PostgreSQL", queue, run, args)
    if "sqlite" in args.dialects:
        with tempfile.TemporaryDirectory() as folder, sqlite_queue(Path(folder)) as (queue, run):
            bench("SQLite", queue, run, args)


if __name__ == "__main__":
    main()
