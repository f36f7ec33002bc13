"""This process's running totals (commands delivered, publishes, deliveries, logins, ...).

Plain counters shared by the application services and read by the metrics endpoints; they
start at zero with the process, as Prometheus counters do.
"""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Thread-safe named totals: `add("webhook.deliveries_ok_total")`."""

    def __init__(self) -> None:
        self._totals: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._totals[name] += amount

    def set(self, name: str, value: int) -> None:
        """For "in the last run" figures, which are replaced rather than added to."""
        with self._lock:
            self._totals[name] = value

    def get(self, name: str) -> int:
        with self._lock:
            return self._totals[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._totals)
