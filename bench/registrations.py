"""Node registrations/s through the write path, read-model lag included, and replay events/s.

Run: .venv/bin/python -m bench.registrations [--url DATABASE_URL] [--nodes N] [--threads T]
Defaults to a fresh schema in the local PostgreSQL `test` database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from entrypoints.bootstrap import build_services
from entrypoints.replay import rebuild
from entrypoints.settings import Settings

BASE = "postgresql://postgres@127.0.0.1:5432/test"


def run(url: str, nodes: int, threads: int, clusters: int) -> None:
    services = build_services(Settings.from_env({"DATABASE_URL": url, "API_KEY": "bench"}))
    services.start()
    keys = []
    for i in range(clusters):
        name = f"bench-{i}"
        services.clusters.create(CreateCluster(name=name))
        key_id = services.enrollment_keys.issue(name, IssueEnrollmentKey(uses_remaining=None))
        keys.append(services.view.get("enrollment_keys", key_id)["key"])  # type: ignore[index]

    latencies: list[float] = []

    def enroll(i: int) -> None:
        started = time.perf_counter()
        services.nodes.enroll(EnrollNode(enrollment_key=keys[i % clusters], version="1.0.0"))
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(enroll, range(nodes)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"registrations: {nodes} nodes, {threads} threads, {clusters} cluster(s): "
          f"{nodes / elapsed:,.0f}/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms (each answered after its read model caught up)")
    services.close()

    replayer = build_services(Settings.from_env({"DATABASE_URL": url, "API_KEY": "bench"},
                                                run_projections=False))
    report = rebuild(replayer)
    print(f"replay: {report.events} events in {report.seconds:.2f}s = {report.rate:,.0f} events/s")
    replayer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="DATABASE_URL (default: fresh schema in local PostgreSQL)")
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--clusters", type=int, default=1)
    args = parser.parse_args()
    if args.url:
        run(args.url, args.nodes, args.threads, args.clusters)
        return
    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        run(f"{BASE}?schema={schema}", args.nodes, args.threads, args.clusters)
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
