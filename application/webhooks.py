"""Webhook commands (create, delete) and the fan-out from published messages to deliveries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated
from uuid import UUID, uuid4, uuid5

import msgspec
from msgspec import Meta

from application.errors import NotFoundError
from application.ports import (
    DeliveryQueue,
    DestinationGuard,
    NewDelivery,
    SecretBox,
    WebhookDirectory,
)
from application.write_path import UnitOfWork, WritePath
from domain.catalog import Message
from domain.deployment import HOOK_TYPES, hook_id
from domain.shared import EDGE_NAMESPACE
from domain.webhook import Webhook, check_headers, check_secret

_encode = msgspec.json.Encoder().encode


class CreateWebhook(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /webhooks; secret and headers are write-only."""

    url: Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://.+")]
    secret: Annotated[str, Meta(min_length=32, max_length=256)]
    subscribed_events: Annotated[
        list[Annotated[str, Meta(max_length=256)]], Meta(min_length=1, max_length=20)
    ]
    headers: Annotated[dict[str, Annotated[str, Meta(max_length=4096)]], Meta(max_length=20)] = (
        msgspec.field(default_factory=dict)
    )


def delivery_id(webhook_id: UUID, message_id: UUID) -> UUID:
    return uuid5(EDGE_NAMESPACE, f"delivery:{webhook_id}:{message_id}")


class Webhooks:
    """Application service for webhooks."""

    def __init__(
        self,
        writes: WritePath,
        box: SecretBox,
        guard: DestinationGuard,
        directory: WebhookDirectory,
        queue: DeliveryQueue,
    ) -> None:
        self.writes = writes
        self.box = box
        self.guard = guard
        self.directory = directory
        self.queue = queue

    def create(self, cmd: CreateWebhook) -> UUID:
        check_secret(cmd.secret)
        check_headers(cmd.headers)
        self.guard.check(cmd.url)
        sealed_secret = self.box.seal(cmd.secret.encode())
        sealed_headers = self.box.seal(json.dumps(cmd.headers).encode()) if cmd.headers else None

        def decide(uow: UnitOfWork) -> UUID:
            webhook = Webhook.create(uuid4(), cmd.url, cmd.subscribed_events, sealed_secret,
                                     sealed_headers, uow.now)
            uow.add(webhook)
            return webhook.id

        return self.writes.run(decide)

    def delete(self, webhook_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            webhook = uow.find(Webhook, webhook_id)
            if webhook is None or webhook.deleted:
                raise NotFoundError("webhook not found")
            webhook.delete(uow.now)

        self.writes.run(decide)

    def fan_out(self, messages: Sequence[Message]) -> int:
        """Enqueues one delivery per (subscribed webhook, message); idempotent per pair.

        A webhook receives only events recorded after it was created.
        """
        subscriptions = self.directory.subscriptions()
        owed = []
        for message in messages:
            body = b""
            for sub in subscriptions:
                if message.type not in sub.event_types or message.position <= sub.created_position:
                    continue
                # The exact bytes every attempt will send, fixed now (same webhook-id, same body).
                body = body or _encode(message)
                owed.append(NewDelivery(
                    id=delivery_id(sub.webhook_id, message.id), webhook_id=sub.webhook_id,
                    message_id=message.id, event_type=message.type, position=message.position,
                    body=body,
                ))
        owed += self._deployment_hooks(messages)
        return self.queue.enqueue(owed) if owed else 0

    def _deployment_hooks(self, messages: Sequence[Message]) -> list[NewDelivery]:
        """A deployment's own webhook_on_ready|error|terminated, through the same signed queue."""
        hooked = [m for m in messages if m.type in HOOK_TYPES]
        if not hooked:
            return []
        given = self.directory.deployment_hooks({_request_id(m) for m in hooked})
        owed = []
        for message in hooked:
            request_id = _request_id(message)
            kind = HOOK_TYPES[message.type]
            if (request_id, kind) in given:
                target = hook_id(request_id, kind)
                owed.append(NewDelivery(
                    id=delivery_id(target, message.id), webhook_id=target, message_id=message.id,
                    event_type=message.type, position=message.position, body=_encode(message)))
        return owed


def _request_id(message: Message) -> str:
    return str(getattr(message.data, "request_id", ""))
