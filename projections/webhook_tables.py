"""The webhooks table (subscriptions; deliveries live in their own queue) and its record."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from projections.model import STAMPS, Kind, Table, cols
from projections.records import Record

TXT, INT, UID = Kind.TEXT, Kind.INT, Kind.UUID

# subscribed_events is stored as "|type|type|" so "contains" is the glob *|type|* everywhere.
WEBHOOKS = Table(
    "webhooks", "id",
    cols(
        ("id", UID), ("url", TXT), ("subscribed_events", TXT), ("sealed_secret", TXT),
        ("sealed_headers", TXT), ("created_position", INT), *STAMPS,
    ),
    indexes=("inserted_at",),
)


class WebhookRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = WEBHOOKS
    id: UUID
    url: str
    subscribed_events: str  # "|type|type|": split_events() gives the list
    sealed_secret: str
    sealed_headers: str | None
    created_position: int
    inserted_at: datetime
    updated_at: datetime


WEBHOOK_RECORDS = (WebhookRecord,)


def join_events(types: list[str]) -> str:
    return "|" + "|".join(types) + "|"


def split_events(stored: str) -> list[str]:
    return [t for t in stored.split("|") if t]
