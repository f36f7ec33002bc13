"""Tables of the Ssh context (login names per node and their public keys) and their records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.model import Join, Kind, cols
from projections.records import Record, table_of

# Usernames never change after creation; cluster_name follows the node through the join.
# password_hash is internal (login checks); the API shows only has_password.
_NODE_CLUSTER = (Join("nodes", "node_id", "id", cols(("cluster_name", Kind.TEXT))),)


class SshUsernameRecord(Record, frozen=True, kw_only=True):
    id: UUID
    node_id: UUID
    username: str
    password_hash: str | None
    has_password: bool
    inserted_at: datetime
    updated_at: datetime
    cluster_name: str | None  # NULL once the node is gone


SSH_USERNAMES = table_of(SshUsernameRecord, "ssh_usernames",
                         indexes=("node_id, username", "inserted_at"), joins=_NODE_CLUSTER)


class SshPublicKeyRecord(Record, frozen=True, kw_only=True):
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


SSH_PUBLIC_KEYS = table_of(
    SshPublicKeyRecord, "ssh_public_keys",
    indexes=("ssh_username_id, fingerprint", "node_id", "inserted_at"), joins=_NODE_CLUSTER,
)


SSH_RECORDS = (SshUsernameRecord, SshPublicKeyRecord)
