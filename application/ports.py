"""Ports the application depends on; adapters implement them, bootstrap wires them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


class SecretBox(Protocol):
    """Authenticated encryption for secrets kept at rest (webhook secrets and headers)."""

    def seal(self, plaintext: bytes) -> str: ...

    def open(self, sealed: str) -> bytes: ...


class DestinationGuard(Protocol):
    """SSRF policy for outbound URLs; raises InvalidValueError(field="url") when denied."""

    def check(self, url: str) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """A webhook as the fan-out sees it."""

    webhook_id: UUID
    event_types: frozenset[str]
    created_position: int


@dataclass(frozen=True)
class NewDelivery:
    """One message owed to one webhook; `id` is the webhook-id header, fixed for all attempts."""

    id: UUID
    webhook_id: UUID
    message_id: UUID
    event_type: str
    position: int
    body: bytes


class WebhookDirectory(Protocol):
    """Current subscriptions, read from the webhooks read model."""

    def subscriptions(self) -> list[Subscription]: ...


class DeliveryQueue(Protocol):
    """Durable queue of deliveries; enqueueing the same id twice is a no-op."""

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int: ...
