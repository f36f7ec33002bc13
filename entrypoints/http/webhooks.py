"""Events.Webhook endpoints: create, list, get, delete (immutable; secrets write-only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from application.webhooks import CreateWebhook
from entrypoints.http.crud import Resource, each
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    Param,
    parse_event_type,
    text,
)
from entrypoints.http.openapi.events import WEBHOOK_DESCRIPTION
from entrypoints.http.openapi.op import WEBHOOK, Op
from entrypoints.http.routing import route
from entrypoints.http.serializers import EventType, Timestamped, described
from projections.query import Cond
from projections.webhook_tables import WebhookRecord, split_events

SPEC = ListSpec(
    params=(
        *STANDARD,
        Param("event_type", parse_event_type,
              lambda v: (Cond("subscribed_events", "glob", f"*|{v}|*"),)),
        text("url"),
    ),
    sortable=("url", "inserted_at", "updated_at"),
    docs={
        "event_type": "Returns webhooks whose subscribed_events list contains this event type."
        " Pass a literal event type, e.g. edge.node.registered.",
        "url": "Filter by URL (exact match or wildcard: `https://hooks.*`, `*/edge`, `*hook*`)",
    },
)


class WebhookResponse(Timestamped):
    """A webhook subscription (secret and headers are write-only and never returned)"""

    id: Annotated[UUID, described("Webhook ID")]
    url: Annotated[str, described("Destination URL — receives a POST per matching event")]
    subscribed_events: Annotated[list[EventType], described(
        "Explicit list of event types this webhook fires on")]


SHAPES = (WebhookResponse,)


def serialize(record: WebhookRecord) -> WebhookResponse:
    """Never the sealed secret or headers."""
    return WebhookResponse(id=record.id, url=record.url,
                           subscribed_events=split_events(record.subscribed_events),
                           inserted_at=record.inserted_at, updated_at=record.updated_at)


RESOURCE = Resource(__name__, lambda svc: svc.webhook_reads.webhooks, each(serialize), SPEC)
create = RESOURCE.create(CreateWebhook, lambda svc, request, cmd: svc.webhooks.create(cmd))
index = RESOURCE.index()
show = RESOURCE.show()
delete = RESOURCE.delete(lambda svc, key: svc.webhooks.delete(key))

ROUTES = [
    route("POST", "/api/v1/webhooks", create, Op(
        WEBHOOK, "Create webhook", 201, "Webhook", (400, 422, 503), CreateWebhook,
        description=WEBHOOK_DESCRIPTION)),
    route("GET", "/api/v1/webhooks", index, Op(
        WEBHOOK, "List webhooks", 200, "Webhook", (400,), listing=SPEC)),
    route("GET", "/api/v1/webhooks/{id}", show, Op(
        WEBHOOK, "Get webhook", 200, "Webhook", (400, 404))),
    route("DELETE", "/api/v1/webhooks/{id}", delete, Op(
        WEBHOOK, "Delete webhook", 204, None, (400, 404, 503),
        description="Permanently delete a webhook; deliveries still queued for it end as"
        " failed.")),
]
