"""Ports the application depends on; adapters implement them, bootstrap wires them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.catalog import Message


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


class EventPublisher(Protocol):
    """Where the relay sends catalog messages (JetStream, or the in-process bus)."""

    async def start(self) -> None: ...

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publishes in order; returns only when every message is durably accepted."""
        ...

    async def close(self) -> None: ...
