"""Ports the application depends on; adapters implement them, bootstrap wires them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    """Source of the current UTC time, passed into aggregates as data."""

    def now(self) -> datetime: ...


class ReadModelWaiter(Protocol):
    """Lets a write return only after the read model holds its own events."""

    def notify_written(self, position: int) -> None: ...

    def wait(self, position: int) -> None: ...


class Liveness(Protocol):
    """Heartbeat sink on the read side; heartbeats are not events."""

    def touch(self, node_id: UUID, at: datetime) -> str | None:
        """Records last_seen_at; returns the node's current status, None if unknown."""
        ...
