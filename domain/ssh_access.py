"""SSH access to a node: usernames (optionally with a password hash) and their public keys,
and the record of each login the agent asked the admin to check."""

from __future__ import annotations

import re
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import (
    GoneError,
    InvalidValueError,
    StateConflictError,
    declared_by_fields,
    shown,
)
from domain.soft_delete import SoftDeletable
from domain.ssh_key import SshKey

USERNAME_PATTERN = r"^[a-z_][a-z0-9_-]*\Z"
_USERNAME = re.compile(USERNAME_PATTERN)
MIN_USERNAME, MAX_USERNAME = 3, 32
MIN_PASSWORD, MAX_PASSWORD = 12, 128
MAX_KEY_NAME = 255


class SshUsernameGoneError(GoneError):
    """The username was deleted."""


class SshPublicKeyGoneError(GoneError):
    """The key was deleted."""


def check_username(username: str) -> None:
    if not MIN_USERNAME <= len(username) <= MAX_USERNAME:
        raise InvalidValueError(
            f"should be {MIN_USERNAME} to {MAX_USERNAME} character(s)", "username")
    if not _USERNAME.match(username):
        raise InvalidValueError(f"Invalid format. Expected ~r/{shown(USERNAME_PATTERN)}/",
                                "username")


def check_password(password: str) -> None:
    """Length in characters, as the seed counts it; the hash never sees a rule-breaking one."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidValueError(
            f"should be {MIN_PASSWORD} to {MAX_PASSWORD} character(s)", "password")


def check_key_name(key_name: str) -> None:
    if not key_name.strip():
        raise InvalidValueError("can't be blank", "key_name")
    if len(key_name) > MAX_KEY_NAME:
        raise InvalidValueError(f"should be at most {MAX_KEY_NAME} character(s)", "key_name")


@declared_by_fields
class SshUsername(SoftDeletable, Aggregate):
    """A login name on one node; owns the names and fingerprints of its keys for uniqueness."""

    id: UUID
    node_id: UUID
    username: str
    password_hash: str | None
    at: datetime
    # key id -> [key_name, fingerprint]
    keys: dict[str, list[str]] = field(default_factory=dict, init=False)
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(cls, ssh_username_id: UUID, node_id: UUID, username: str,
               password_hash: str | None, at: datetime) -> SshUsername:
        check_username(username)
        return cls(id=ssh_username_id, node_id=node_id, username=username,
                   password_hash=password_hash, at=at)

    def gone(self) -> GoneError:
        return SshUsernameGoneError("ssh username was deleted")

    def attach_key(self, key_id: UUID, key_name: str, key: SshKey, field: str = "") -> None:
        """A key or a key name appears once per username (409 otherwise)."""
        self.check_live()
        for name, print_ in self.keys.values():
            if print_ == key.fingerprint:
                raise StateConflictError(
                    f"this key ({key.fingerprint}) is already registered for "
                    f"{self.username}", field + "public_key")
            if name == key_name:
                raise StateConflictError(
                    f"a key named {key_name!r} already exists for {self.username}",
                    field + "key_name")
        self._key_attached(key_id=key_id, key_name=key_name, fingerprint=key.fingerprint)

    @event("KeyAttached")
    def _key_attached(self, key_id: UUID, key_name: str, fingerprint: str) -> None:
        self.keys[str(key_id)] = [key_name, fingerprint]

    def detach_key(self, key_id: UUID) -> None:
        if str(key_id) in self.keys:
            self._key_detached(key_id=key_id)

    @event("KeyDetached")
    def _key_detached(self, key_id: UUID) -> None:
        self.keys.pop(str(key_id), None)

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True


@declared_by_fields
class SshPublicKey(SoftDeletable, Aggregate):
    """One public key allowed to log in as its username."""

    id: UUID
    ssh_username_id: UUID
    node_id: UUID
    username: str
    key_name: str
    public_key: str
    algorithm: str
    fingerprint: str
    at: datetime
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(cls, key_id: UUID, owner: SshUsername, key_name: str, key: SshKey,
               at: datetime) -> SshPublicKey:
        check_key_name(key_name)
        return cls(id=key_id, ssh_username_id=owner.id, node_id=owner.node_id,
                   username=owner.username, key_name=key_name, public_key=key.text,
                   algorithm=key.algorithm, fingerprint=key.fingerprint, at=at)

    def gone(self) -> GoneError:
        return SshPublicKeyGoneError("ssh public key was deleted")

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True


class LoginMethod(StrEnum):
    PUBLICKEY = "publickey"
    PASSWORD = "password"  # noqa: S105 - the method's name, not a secret


class LoginOutcome(StrEnum):
    """Why a login was allowed or refused; `accepted` is the only allowing one."""

    ACCEPTED = "accepted"
    UNKNOWN_USERNAME = "unknown_username"
    UNKNOWN_KEY = "unknown_key"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105
    NO_PASSWORD = "no_password"  # noqa: S105
    RATE_LIMITED = "rate_limited"


@declared_by_fields
class SshLogin(Aggregate, created_event_name="Checked"):
    """The audit record of one credential check (it never holds the secret)."""

    id: UUID
    node_id: UUID
    ssh_username_id: UUID | None
    username: str
    method: str
    outcome: str
    fingerprint: str | None
    at: datetime
