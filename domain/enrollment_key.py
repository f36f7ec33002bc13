"""Enrollment keys: the credential an agent presents once to join a cluster."""

from __future__ import annotations

import base64
import json
from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import (
    DomainError,
    GoneError,
    InvalidValueError,
    as_utc,
    declared_by_fields,
    name_id,
)
from domain.soft_delete import SoftDeletable

UPDATABLE = ("name", "uses_remaining", "expired_at")


class KeyRefusedError(DomainError):
    """The key exists but cannot be used now (expired or spent)."""


class KeyGoneError(GoneError):
    """The enrollment key was deleted."""


def encode_blob(server: str, token: str) -> str:
    """The value operators paste into ENROLLMENT_KEY: base64 JSON naming the admin and token."""
    raw = json.dumps({"server": server, "key": token}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_blob(blob: str) -> tuple[str, str]:
    """Returns (server, token); raises InvalidValueError on anything that is not a key blob."""
    try:
        padded = blob.strip() + "=" * (-len(blob.strip()) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode()))
        server, token = doc["server"], doc["key"]
    except (ValueError, KeyError, TypeError):
        raise InvalidValueError("is not an enrollment key blob", "enrollment_key") from None
    if not isinstance(server, str) or not isinstance(token, str) or not token:
        raise InvalidValueError("is not an enrollment key blob", "enrollment_key")
    return server, token


def check_uses(uses: int | None) -> None:
    if uses is not None and uses < 1:
        raise InvalidValueError("must be greater than or equal to 1", "uses_remaining")


def check_expiry(expired_at: datetime | None, now: datetime) -> None:
    if expired_at is not None and expired_at <= now:
        raise InvalidValueError("must be in the future", "expired_at")


@declared_by_fields
class EnrollmentKey(SoftDeletable, Aggregate):
    """A use-counted, optionally expiring key; its id derives from its secret token."""

    id: UUID
    cluster_id: UUID
    cluster_name: str
    key: str
    name: str | None
    uses_remaining: int | None
    expired_at: datetime | None
    at: datetime
    last_used_at: datetime | None = field(default=None, init=False)
    deleted: bool = field(default=False, init=False)

    @staticmethod
    def id_for(token: str) -> UUID:
        return name_id("enrollment-key", token)

    @classmethod
    def issue(  # noqa: PLR0913
        cls,
        token: str,
        server: str,
        cluster_id: UUID,
        cluster_name: str,
        name: str | None,
        uses_remaining: int | None,
        expired_at: datetime | None,
        at: datetime,
    ) -> EnrollmentKey:
        check_uses(uses_remaining)
        expired_at = as_utc(expired_at, "expired_at")
        check_expiry(expired_at, at)
        return cls(
            id=cls.id_for(token),
            cluster_id=cluster_id,
            cluster_name=cluster_name,
            key=encode_blob(server, token),
            name=name,
            uses_remaining=uses_remaining,
            expired_at=expired_at,
            at=at,
        )

    def gone(self) -> GoneError:
        return KeyGoneError("enrollment key was deleted")

    def update(self, changes: dict[str, Any], at: datetime) -> None:
        """Applies only the fields present in changes; None clears a nullable field."""
        self.check_live()
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise InvalidValueError("is not an updatable field", sorted(unknown)[0])
        if "uses_remaining" in changes:
            check_uses(changes["uses_remaining"])
        if "expired_at" in changes:
            changes = {**changes, "expired_at": as_utc(changes["expired_at"], "expired_at")}
            check_expiry(changes["expired_at"], at)
        self._updated(changes=dict(changes), at=at)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], at: datetime) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def use(self, node_id: UUID, at: datetime) -> None:
        """Consumes one use; refuses expired and spent keys."""
        self.check_live()
        if self.expired_at is not None and self.expired_at <= at:
            raise KeyRefusedError("enrollment key has expired", "enrollment_key")
        if self.uses_remaining == 0:
            raise KeyRefusedError("enrollment key has no uses remaining", "enrollment_key")
        left = None if self.uses_remaining is None else self.uses_remaining - 1
        self._used(node_id=node_id, cluster_name=self.cluster_name, uses_remaining=left, at=at)

    @event("Used")
    def _used(
        self, node_id: UUID, cluster_name: str, uses_remaining: int | None, at: datetime
    ) -> None:
        self.uses_remaining = uses_remaining
        self.last_used_at = at

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
