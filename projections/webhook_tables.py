"""The webhooks table (subscriptions; deliveries live in their own queue) and its record."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.records import Record, table_of


# subscribed_events is stored as "|type|type|" so "contains" is the glob *|type|* everywhere.
class WebhookRecord(Record, frozen=True, kw_only=True):
    id: UUID
    url: str
    subscribed_events: str  # "|type|type|": split_events() gives the list
    sealed_secret: str
    sealed_headers: str | None
    created_position: int
    inserted_at: datetime
    updated_at: datetime


WEBHOOKS = table_of(WebhookRecord, "webhooks", indexes=("inserted_at",))


WEBHOOK_RECORDS = (WebhookRecord,)


def join_events(types: list[str]) -> str:
    return "|" + "|".join(types) + "|"


def split_events(stored: str) -> list[str]:
    return [t for t in stored.split("|") if t]
