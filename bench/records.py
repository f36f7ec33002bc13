"""What typed reads cost: a page of node rows as dicts (TableView.query) against the same page
as NodeRecord structs (Records.page), measured in the same run on each kind of view.

Run: .venv/bin/python -m bench.records [--rows 1000] [--repeat 15]
Writes `rows` nodes into a fresh in-memory view and a fresh SQLite file, then reads all of them
as one page both ways, alternating; prints the best time of `repeat` per row, the ratio
(records / dicts) and what msgspec.convert alone takes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
from eventsourcing.persistence import Tracking

from entrypoints.bootstrap import build_view
from entrypoints.settings import Settings
from projections.fleet_tables import NODES, NodeRecord
from projections.model import Upsert
from projections.query import ListQuery
from projections.records import Records
from projections.view import TableView


def _rows(count: int) -> list[dict[str, Any]]:
    now, cluster = datetime.now(UTC), uuid4()
    return [{"id": uuid4(), "cluster_id": cluster, "cluster_name": "east", "id_type": "random",
             "api_token": f"token-{i}", "proxy_password": "p", "status": "healthy",
             "version": "1.2.3", "self_update_enabled": True, "update_request_id": None,
             "netmaker_host_id": uuid4(), "http_port": 1, "http_proxy_port": 2,
             "socks5_proxy_port": 3, "ssh_port": 4, "host_metrics_port": 5,
             "wireguard_metrics_port": 6, "inserted_at": now, "updated_at": now}
            for i in range(count)]


def _best(actions: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best time of each action, run in turns so drift in the machine hits them alike."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat + 1):  # the first round warms caches and is dropped
        for action, spent in zip(actions, times, strict=True):
            start = time.perf_counter()
            action()
            spent.append(time.perf_counter() - start)
    return [min(spent[1:]) for spent in times]


def measure(name: str, view: TableView, count: int, repeat: int) -> None:
    view.apply([([Upsert(NODES.name, r) for r in _rows(count)], Tracking("fleet", 1))])
    query = ListQuery(page_size=count, count=False)
    records = Records(view, NodeRecord)
    rows = view.query(NODES.name, query).rows
    dicts, typed, convert = _best([
        lambda: view.query(NODES.name, query), lambda: records.page(query),
        lambda: msgspec.convert(rows, list[NodeRecord])], repeat)
    print(f"{name:8} {count} nodes: dicts {dicts / count * 1e6:6.2f} µs/row, records "
          f"{typed / count * 1e6:6.2f} µs/row (ratio {typed / dicts:.2f}); "
          f"msgspec.convert alone {convert / count * 1e6:.2f} µs/row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for url in ("memory://", f"sqlite:///{Path(folder) / 'b.db'}"):
            view = build_view(Settings.from_env({"DATABASE_URL": url, "API_KEY": "k"}))
            try:
                measure(url.partition(":")[0], view, args.rows, args.repeat)
            finally:
                close = getattr(view, "close", None)
                if close is not None:
                    close()


if __name__ == "__main__":
    main()
