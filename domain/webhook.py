"""Webhook subscriptions: immutable after create; secrets arrive here already sealed."""

from __future__ import annotations

import re
from dataclasses import field
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.catalog import EVENT_TYPES
from domain.shared import GoneError, InvalidValueError, declared_by_fields
from domain.soft_delete import SoftDeletable
from domain.ssrf import parse_destination

MAX_EVENTS = 20
MAX_HEADERS = 20
MAX_HEADER_VALUE = 4096
SECRET_LENGTH = (32, 256)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}\Z")
# Headers the delivery sets itself; letting a subscriber override them would break signing,
# framing or routing.
RESERVED_HEADERS = frozenset({
    "content-type", "content-length", "content-encoding", "transfer-encoding", "connection",
    "host", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature", "te",
    "upgrade", "expect", "keep-alive", "proxy-authorization", "trailer",
})


class WebhookGoneError(GoneError):
    """The webhook was deleted."""


def check_events(events: list[str]) -> list[str]:
    """1-20 known catalog types; duplicates are dropped, first occurrence keeps its place."""
    if not events:
        raise InvalidValueError("should have at least 1 item(s)", "subscribed_events")
    unique = list(dict.fromkeys(events))
    if len(unique) > MAX_EVENTS:
        raise InvalidValueError(f"should have at most {MAX_EVENTS} item(s)", "subscribed_events")
    unknown = [e for e in unique if e not in EVENT_TYPES]
    if unknown:
        raise InvalidValueError(
            f"unknown event type(s): {', '.join(unknown)}; see GET /api/v1/event_types",
            "subscribed_events",
        )
    return unique


def check_secret(secret: str) -> None:
    low, high = SECRET_LENGTH
    if not low <= len(secret) <= high:
        raise InvalidValueError(f"should be between {low} and {high} characters", "secret")


def check_headers(headers: dict[str, str]) -> None:
    if len(headers) > MAX_HEADERS:
        raise InvalidValueError(f"should have at most {MAX_HEADERS} entries", "headers")
    for name, value in headers.items():
        lowered = name.lower()
        if not HEADER_NAME.match(name):
            raise InvalidValueError(f"{name!r} is not a valid header name", "headers")
        if lowered in RESERVED_HEADERS or lowered.startswith("x-edge-"):
            raise InvalidValueError(f"{name} is set by the delivery itself", "headers")
        if len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\0"):
            raise InvalidValueError(
                f"value of {name} must be at most {MAX_HEADER_VALUE} characters, one line",
                "headers",
            )


@declared_by_fields
class Webhook(SoftDeletable, Aggregate):
    """Where and what to deliver; the secret and headers are stored sealed, never in clear."""

    id: UUID
    url: str
    subscribed_events: list[str]
    sealed_secret: str
    sealed_headers: str | None
    at: datetime
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(  # noqa: PLR0913
        cls, webhook_id: UUID, url: str, events: list[str], sealed_secret: str,
        sealed_headers: str | None, at: datetime,
    ) -> Webhook:
        parse_destination(url)
        return cls(id=webhook_id, url=url, subscribed_events=check_events(events),
                   sealed_secret=sealed_secret, sealed_headers=sealed_headers, at=at)

    def gone(self) -> GoneError:
        return WebhookGoneError("webhook was deleted")

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
