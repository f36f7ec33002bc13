"""What a new connection per agent report costs the admin (issue 18).

Run: .venv/bin/python -m bench.keep_alive [--clients 1 16] [--rounds 3] [--seconds 3]
One `edge-admin serve` of this checkout on a fresh PostgreSQL schema with 30 enrolled nodes.
wrk sends heartbeats (`POST /agent/v1/heartbeat`, each with a node's token) over connections it
keeps (what edge-agent does since it keeps its connection 50 s and the admin 75 s), then with
`Connection: close` on each (what it did while httpx and uvicorn dropped idle connections after
5 s: an agent reporting every 10-15 s reconnected for nearly every report); the two alternate
over the rounds. Printed: heartbeats/s, p50, and the CPU each one cost the serve process and
its PostgreSQL backends (/proc), medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
from contextlib import ExitStack
from pathlib import Path

from bench import wrk
from bench.ab_reads import Ours
from bench.commands import API_KEY, ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-keep-alive-serve.log"))
    args = parser.parse_args()
    with ExitStack() as stack:
        ours = Ours(stack, ROOT, args.log)
        kept = wrk.script(API_KEY, "POST", "/agent/v1/heartbeat",
                          json.dumps({"status": "healthy"}), ours.tokens, bearer_ids=True)
        closed = kept.replace('["Content-Type"] = "application/json"}',
                              '["Content-Type"] = "application/json", ["Connection"] = "close"}')
        assert closed != kept, "wrk.script's headers changed: the close variant needs a new edit"
        print(f"heartbeats, {args.rounds} rounds of {args.seconds:g} s, medians")
        print(f"{'connection':>12} {'clients':>7} {'req/s':>8} {'p50 ms':>7} "
              f"{'serve CPU ms':>12} {'PG CPU ms':>9}")
        for clients in args.clients:
            runs: dict[str, list[tuple[float, float, float, float]]] = {"kept": [], "new": []}
            for _ in range(args.rounds):
                for name, lua in (("kept", kept), ("new", closed)):
                    before = ours.cpu()
                    got = wrk.run(str(ours.client.base_url), lua, clients, args.seconds)
                    after = ours.cpu()
                    served = got["rate"] * args.seconds or 1.0
                    runs[name].append((got["rate"], got["p50_ms"] or 0.0,
                                       (after[0] - before[0]) * 1000 / served,
                                       (after[1] - before[1]) * 1000 / served))
            for name, figures in runs.items():
                rate, p50, serve, pg = (statistics.median(f[i] for f in figures)
                                        for i in range(4))
                print(f"{name:>12} {clients:>7} {rate:>8,.0f} {p50:>7.2f} {serve:>12.3f} "
                      f"{pg:>9.3f}")


if __name__ == "__main__":
    main()
