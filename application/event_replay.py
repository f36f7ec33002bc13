"""Replaying a range of the event log: what to re-send, and the ids the copies carry.

A replay re-sends stored catalog messages unchanged (the body keeps the original `id`, so
consumers that dedupe by it still can) under fresh transport ids, so neither JetStream's
duplicate window nor the delivery queue's idempotency swallows the copy. The ids derive from
the run id: re-running a replay that stopped halfway with the same run id does not send
twice what the first attempt already handed over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID, uuid5

import msgspec
from eventsourcing.application import AggregateNotFoundError

from application.errors import NotFoundError
from application.event_log import decode, topics_of
from application.ports import NewDelivery
from application.store import EdgeStore
from domain.catalog import Message
from domain.shared import EDGE_NAMESPACE
from domain.webhook import Webhook

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class ReplayRange:
    """Positions `start`..`stop` (both inclusive), of these catalog types (empty: all)."""

    start: int
    stop: int
    types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start < 1:
            raise ValueError("--from must be at least 1")
        if self.stop < self.start:
            raise ValueError(f"--to ({self.stop}) is before --from ({self.start})")


def replay_message_id(message_id: UUID, run_id: UUID) -> UUID:
    """Nats-Msg-Id of a replayed copy: new per run, stable within one."""
    return uuid5(message_id, f"replay:{run_id}")


def replay_delivery_id(webhook_id: UUID, message_id: UUID, run_id: UUID) -> UUID:
    """Delivery id (the webhook-id header) of a replayed copy."""
    return uuid5(EDGE_NAMESPACE, f"delivery:{webhook_id}:{message_id}:replay:{run_id}")


def replay_headers(message: Message, run_id: UUID) -> dict[str, str]:
    """NATS headers of a replayed copy (the relay's, with the copy's own message id)."""
    return {
        "Nats-Msg-Id": str(replay_message_id(message.id, run_id)),
        "Edge-Position": str(message.position),
        "Edge-Schema-Version": str(message.schema_version),
        "Edge-Replay": str(run_id),
    }


def read_range(
    store: EdgeStore, selection: ReplayRange, batch_size: int = 1000
) -> Iterator[list[Message]]:
    """The selected messages in position order, a batch at a time."""
    topics = topics_of(selection.types)
    if not topics:
        return
    start = selection.start
    while start <= selection.stop:
        notifications = store.recorder.select_notifications(
            start=start, limit=batch_size, stop=selection.stop, topics=list(topics),
        )
        if notifications:
            yield decode(store.mapper, notifications)
        if len(notifications) < batch_size:
            return
        start = notifications[-1].id + 1


@dataclass(frozen=True)
class WebhookTarget:
    """A live webhook and the catalog types a replay may deliver to it."""

    webhook_id: UUID
    types: frozenset[str]

    def deliveries(self, messages: Sequence[Message], run_id: UUID) -> list[NewDelivery]:
        """Fresh deliveries whose bodies are exactly what the original fan-out sent."""
        return [
            NewDelivery(
                id=replay_delivery_id(self.webhook_id, m.id, run_id), webhook_id=self.webhook_id,
                message_id=m.id, event_type=m.type, position=m.position, body=_encode(m),
            )
            for m in messages
            if m.type in self.types
        ]


def webhook_target(
    store: EdgeStore, webhook_id: UUID, types: Sequence[str] = ()
) -> WebhookTarget:
    """The webhook's subscriptions, or `types` when given; unknown or deleted is NotFound."""
    webhook: object = None
    with contextlib.suppress(AggregateNotFoundError):
        webhook = store.repository.get(webhook_id)
    if not isinstance(webhook, Webhook) or webhook.deleted:
        raise NotFoundError(f"webhook {webhook_id} does not exist or was deleted")
    return WebhookTarget(webhook_id, frozenset(types or webhook.subscribed_events))
