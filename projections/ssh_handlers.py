"""Read-model changes for SSH usernames and public keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.ssh_access import SshPublicKey, SshUsername
from projections.model import Change, Delete, Upsert

Handler = Callable[[Any], list[Change]]


def _username_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "node_id": e.node_id, "username": e.username,
           "password_hash": e.password_hash, "has_password": e.password_hash is not None,
           "inserted_at": e.at, "updated_at": e.at}
    return [Upsert("ssh_usernames", row)]


def _key_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "ssh_username_id": e.ssh_username_id, "node_id": e.node_id,
           "username": e.username, "key_name": e.key_name, "public_key": e.public_key,
           "algorithm": e.algorithm, "fingerprint": e.fingerprint, "inserted_at": e.at,
           "updated_at": e.at}
    return [Upsert("ssh_public_keys", row)]


SSH_HANDLERS: dict[type[Any], Handler] = {
    SshUsername.Created: _username_created,
    SshUsername.Deleted: lambda e: [Delete("ssh_usernames", {"id": e.originator_id})],
    SshPublicKey.Created: _key_created,
    SshPublicKey.Deleted: lambda e: [Delete("ssh_public_keys", {"id": e.originator_id})],
}
