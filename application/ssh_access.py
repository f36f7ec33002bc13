"""SSH usernames and public keys of a node: created, listed through the read model, deleted."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from msgspec import Meta

from application.ports import PasswordHasher
from application.write_path import UnitOfWork, WritePath
from domain.node import Node
from domain.shared import InvalidValueError
from domain.ssh_access import (
    MAX_KEY_NAME,
    MAX_PASSWORD,
    MAX_USERNAME,
    MIN_PASSWORD,
    MIN_USERNAME,
    USERNAME_PATTERN,
    SshPublicKey,
    SshUsername,
    check_key_name,
    check_password,
    check_username,
)
from domain.ssh_key import MAX_KEY_TEXT, PUBLIC_KEY_PATTERN, SshKey, parse_public_key

Username = Annotated[
    str, Meta(min_length=MIN_USERNAME, max_length=MAX_USERNAME, pattern=USERNAME_PATTERN)
]
Password = Annotated[str, Meta(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
KeyName = Annotated[str, Meta(min_length=1, max_length=MAX_KEY_NAME)]
# The pattern is documented, not enforced by msgspec: parse_public_key gives clearer messages
# (a private key pasted by mistake, an RSA key that is too short, broken base64, ...).
PublicKeyText = Annotated[
    str, Meta(max_length=MAX_KEY_TEXT, extra_json_schema={"pattern": PUBLIC_KEY_PATTERN})
]


class SshPublicKeyItem(msgspec.Struct, forbid_unknown_fields=True):
    """One item of `public_keys` in CreateSshUsername."""

    key_name: KeyName
    public_key: PublicKeyText


class CreateSshPublicKey(SshPublicKeyItem, forbid_unknown_fields=True):
    """Body of POST /ssh_usernames/{id}/ssh_public_keys (a type of its own for the docs)."""


class CreateSshUsername(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /nodes/{node_id}/ssh_usernames; keys are created with it, all or nothing."""

    username: Username
    password: Password | None = None
    public_keys: list[SshPublicKeyItem] | None = None


def _parsed(items: list[SshPublicKeyItem]) -> list[tuple[str, SshKey]]:
    """Every inline key checked before anything is written (field paths name the bad item)."""
    parsed = []
    for index, item in enumerate(items):
        try:
            check_key_name(item.key_name)
            parsed.append((item.key_name, parse_public_key(item.public_key)))
        except InvalidValueError as exc:
            raise InvalidValueError(exc.message, f"public_keys[{index}].{exc.field}") from None
    return parsed


class SshAccess:
    """Application service for SSH usernames and keys."""

    def __init__(self, writes: WritePath, hasher: PasswordHasher) -> None:
        self.writes = writes
        self.hasher = hasher

    def create_username(self, node_id: UUID, cmd: CreateSshUsername) -> UUID:
        check_username(cmd.username)
        keys = _parsed(cmd.public_keys or [])
        password_hash = None
        if cmd.password is not None:
            check_password(cmd.password)
            # Hashed once, outside the decision: it costs tens of ms and decisions may retry.
            password_hash = self.hasher.hash(cmd.password)

        def decide(uow: UnitOfWork) -> UUID:
            node = uow.get(Node, node_id, "node")
            owner = SshUsername.create(uuid4(), node.id, cmd.username, password_hash, uow.now)
            node.attach_ssh_username(owner.id, owner.username)
            uow.add(owner)
            for index, (name, key) in enumerate(keys):
                uow.add(_attach(uow, owner, name, key, f"public_keys[{index}]."))
            return owner.id

        return self.writes.run(decide)

    def add_key(self, ssh_username_id: UUID, cmd: CreateSshPublicKey) -> UUID:
        check_key_name(cmd.key_name)
        key = parse_public_key(cmd.public_key)

        def decide(uow: UnitOfWork) -> UUID:
            owner = uow.get(SshUsername, ssh_username_id, "ssh username")
            created = _attach(uow, owner, cmd.key_name, key, "")
            uow.add(created)
            return created.id

        return self.writes.run(decide)

    def delete_username(self, ssh_username_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            owner = uow.get(SshUsername, ssh_username_id, "ssh username")
            remove_username(uow, owner, uow.find(Node, owner.node_id))

        self.writes.run(decide)

    def delete_key(self, key_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            key = uow.get(SshPublicKey, key_id, "ssh public key")
            owner = uow.find(SshUsername, key.ssh_username_id)
            if owner is not None:
                owner.detach_key(key.id)
            key.delete(uow.now)

        self.writes.run(decide)


def _attach(uow: UnitOfWork, owner: SshUsername, name: str, key: SshKey,
            field: str) -> SshPublicKey:
    created = SshPublicKey.create(uuid4(), owner, name, key, uow.now)
    owner.attach_key(created.id, name, key, field)
    return created


def remove_username(uow: UnitOfWork, owner: SshUsername, node: Node | None) -> None:
    """Deletes the username and its keys; also how a node's deletion cascades."""
    for key_id in list(owner.keys):
        key = uow.find(SshPublicKey, UUID(key_id))
        if key is not None and not key.deleted:
            key.delete(uow.now)
    if node is not None:
        node.detach_ssh_username(owner.id)
    owner.delete(uow.now)
