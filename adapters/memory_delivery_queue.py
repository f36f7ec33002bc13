"""In-memory delivery queue (the popo store's companion; lost with the process)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

from application.ports import NewDelivery


class MemoryDeliveryQueue:
    """Deliveries keyed by id; enqueueing an id twice keeps the first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[UUID, NewDelivery] = {}

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        added = 0
        with self._lock:
            for delivery in deliveries:
                if delivery.id not in self.rows:
                    self.rows[delivery.id] = delivery
                    added += 1
        return added
