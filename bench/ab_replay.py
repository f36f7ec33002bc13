"""Replay A/B on a shared, noisy machine: this checkout's rebuild against a base commit's.

Run: .venv/bin/python -m bench.ab_replay [--base main] [--events 50000] [--rounds 5]
                                         [--how replay|start]
One log (`bench.suite.write_replay_log`: per node admitted, registered, two status changes) is
written once into a fresh schema; each round then rebuilds the read models from it twice, in a
new process each time as `edge-admin replay` does: once with the code of `--base` (exported
with `git archive` into a temporary folder, as bench.ab_reads does) and once with this checkout,
in turns (who goes first alternates). A round's figures are the rebuild's events/s, the CPU an
event cost the process (every thread) and the CPU it cost its PostgreSQL backends (from /proc);
the table shows their medians and the median of the per-round ratios. A neighbour's burst
slows both sides of a round alike, and CPU per event moves less than events/s. `--how start`
measures the rebuild at start instead: the read models emptied, a serve's services built, and
the time from their start() until the projector holds the log (its CPU, the process's from
start(): the relay and the other workers' included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.ab_reads import export
from bench.commands import BASE, ROOT
from bench.suite import write_replay_log

# Runs in the tree under test (its own bench.commands and entrypoints.replay): one rebuild,
# timed as bench.replay times it (CPU from the call, the read models' emptying included), and
# the CPU of the PostgreSQL backends it used.
CHILD = """
import json, os, sys, time
import psycopg
from bench.commands import BASE, services_for
from entrypoints.replay import rebuild
url, name = sys.argv[1], sys.argv[2]

def backends():
    with psycopg.connect(BASE, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                            (name + ":%",)).fetchall()
    out = {}
    for (pid,) in rows:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out

if sys.argv[3] == "replay":
    services = services_for(url, run_projections=False, database_app_name=name)
    try:
        before = backends()
        cpu = time.process_time()
        report = rebuild(services)
        cpu = time.process_time() - cpu
        after = backends()
    finally:
        services.close()
    events, seconds = report.events, report.seconds
else:  # the rebuild at start: the read models emptied, then a serve's services started
    emptied = services_for(url, run_projections=False)
    emptied.view.reset(emptied.projector.application_name)
    emptied.close()
    services = services_for(url, database_app_name=name)
    try:
        events = services.store.recorder.max_notification_id() or 0
        before = backends()
        cpu, seconds = time.process_time(), time.perf_counter()
        services.start()
        while services.projector.applied() < events:
            time.sleep(0.005)
        cpu, seconds = time.process_time() - cpu, time.perf_counter() - seconds
        after = backends()
    finally:
        services.close()
pg = sum(t - before.get(pid, 0.0) for pid, t in after.items())
print(json.dumps({"events": events, "seconds": seconds, "cpu": cpu, "pg_cpu": pg}))
"""


@contextmanager
def log_schema(prefix: str, events: int) -> Iterator[str]:
    schema = f"{prefix}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{BASE}?schema={schema}"
        write_replay_log(url, events)
        yield url
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def vacuum(schema: str) -> None:
    """The last rebuild's deleted rows cleared away, so that each rebuild starts alike."""
    with psycopg.connect(BASE, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                              (schema,)).fetchall()
        for (table,) in tables:
            conn.execute(f'VACUUM "{schema}"."{table}"')


def rebuild_in(root: Path, url: str, how: str) -> dict[str, float]:
    """One rebuild by the code in `root`, in a process of its own (events/s as
    `bench.replay` counts them: from the emptied read models to the last page applied)."""
    vacuum(url.rsplit("schema=", 1)[1])
    name = f"ab-replay-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", CHILD, url, name, how], cwd=root, env=env,
                          check=True, capture_output=True, text=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    events = got["events"]
    return {"rate": events / got["seconds"], "cpu_us": got["cpu"] / events * 1e6,
            "pg_us": got["pg_cpu"] / events * 1e6}


FIGURES = (("events/s", "rate", ",.0f"), ("CPU us/event", "cpu_us", ".2f"),
           ("PostgreSQL us/event", "pg_us", ".2f"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="main", help="the commit to compare against")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--how", choices=["replay", "start"], default="replay",
                        help="replay: `edge-admin replay`'s rebuild; start: the read models "
                        "emptied, then the time a serve's services take from start() to "
                        "holding the log (the rebuild at start)")
    parser.add_argument("--schema-prefix", default="bench_",
                        help="the log's schema is named this and 8 random letters")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder, log_schema(args.schema_prefix,
                                                             args.events) as url:
        sides = {f"base {args.base}": export(args.base, Path(folder)), "this": ROOT}
        names = list(sides)
        for round_ in range(args.rounds):
            for name in names[round_ % 2:] + names[:round_ % 2]:
                got = runs.setdefault(name, [])
                got.append(rebuild_in(sides[name], url, args.how))
                print(f"round {round_ + 1}, {name}: " + ", ".join(
                    f"{title} {got[-1][key]:{spec}}" for title, key, spec in FIGURES))
    print(f"{os.cpu_count()} CPUs; {args.how}, {args.events:,} events, {args.rounds} rounds; "
          "medians (ratio: this over base, the median of the rounds' ratios)")
    base, this = runs[names[0]], runs[names[1]]
    for title, key, spec in FIGURES:
        ratios = [t[key] / b[key] for b, t in zip(base, this, strict=True) if b[key]]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "-"
        print(f"{title:<20} base {statistics.median(r[key] for r in base):>10{spec}}   "
              f"this {statistics.median(r[key] for r in this):>10{spec}}   ratio {ratio}")


if __name__ == "__main__":
    main()
