"""Replay alone: events/s and CPU per event (the process's, every thread) of a rebuild.

Run: .venv/bin/python -m bench.replay [--events 12000] [--runs 3]
Each run builds the log `bench.suite.replay_rate` builds (per node: its cluster admitting it,
its registration, two status changes) in a fresh schema of the local PostgreSQL `test` database
and times only the rebuild. CPU per event is steadier than events/s on a shared machine; to
compare two trees, `bench.ab_replay` runs both in turns on one log.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.suite import replay_rate
from entrypoints.bootstrap import Services
from entrypoints.replay import ReplayReport, rebuild


def measure(events: int) -> tuple[float, float]:
    """(events/s, CPU microseconds per event) of one rebuild."""
    seen: dict[str, float] = {}

    def timed(services: Services) -> ReplayReport:
        started = time.process_time()
        report = rebuild(services)
        seen["cpu"] = (time.process_time() - started) / report.events * 1e6
        return report

    rate = replay_rate(events, timed)
    return rate, seen["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=12_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    for _ in range(args.runs):
        rate, cpu = measure(args.events)
        print(f"replay: {rate:,.0f} events/s, {cpu:.1f} us of CPU per event "
              f"({args.events:,} events)")


if __name__ == "__main__":
    main()
