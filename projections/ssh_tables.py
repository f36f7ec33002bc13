"""Tables of the Ssh context (login names per node and their public keys) and their records."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from projections.model import STAMPS, Join, Kind, Table, cols
from projections.records import Record

TXT, BOOL, UID = Kind.TEXT, Kind.BOOL, Kind.UUID

# Usernames never change after creation; cluster_name follows the node through the join.
# password_hash is internal (login checks); the API shows only has_password.
_NODE_CLUSTER = (Join("nodes", "node_id", "id", cols(("cluster_name", TXT))),)
SSH_USERNAMES = Table(
    "ssh_usernames", "id",
    cols(
        ("id", UID), ("node_id", UID), ("username", TXT), ("password_hash", TXT),
        ("has_password", BOOL), *STAMPS,
    ),
    indexes=("node_id, username", "inserted_at"),
    joins=_NODE_CLUSTER,
)


class SshUsernameRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = SSH_USERNAMES
    id: UUID
    node_id: UUID
    username: str
    password_hash: str | None
    has_password: bool
    inserted_at: datetime
    updated_at: datetime
    cluster_name: str | None  # NULL once the node is gone


SSH_PUBLIC_KEYS = Table(
    "ssh_public_keys", "id",
    cols(
        ("id", UID), ("ssh_username_id", UID), ("node_id", UID), ("username", TXT),
        ("key_name", TXT), ("public_key", TXT), ("algorithm", TXT), ("fingerprint", TXT),
        *STAMPS,
    ),
    indexes=("ssh_username_id, fingerprint", "node_id", "inserted_at"),
    joins=_NODE_CLUSTER,
)


class SshPublicKeyRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = SSH_PUBLIC_KEYS
    id: UUID
    ssh_username_id: UUID
    node_id: UUID
    username: str
    key_name: str
    public_key: str
    algorithm: str
    fingerprint: str
    inserted_at: datetime
    updated_at: datetime
    cluster_name: str | None  # NULL once the node is gone


SSH_RECORDS = (SshUsernameRecord, SshPublicKeyRecord)
