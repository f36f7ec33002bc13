"""What the Ssh context reads: login names and public keys as records, and the login check's
two questions."""

from __future__ import annotations

from uuid import UUID

from projections.query import AnyOf, Cond, ListQuery, Order
from projections.records import Reads, Records, equal
from projections.ssh_tables import SshPublicKeyRecord, SshUsernameRecord

MAX_KEYS_SHOWN = 10_000


class SshReads(Reads):
    usernames: Records[SshUsernameRecord]
    public_keys: Records[SshPublicKeyRecord]

    def username_on(self, node_id: UUID, username: str) -> SshUsernameRecord | None:
        return self.usernames.first(equal("node_id", node_id), equal("username", username))

    def has_key(self, ssh_username_id: UUID, fingerprint: str) -> bool:
        key = self.public_keys.first(equal("ssh_username_id", ssh_username_id),
                                     equal("fingerprint", fingerprint))
        return key is not None

    def keys_of(self, username_ids: list[UUID]) -> dict[UUID, list[SshPublicKeyRecord]]:
        """The public keys of a page of usernames, in one query ("preloaded" in the seed)."""
        found: dict[UUID, list[SshPublicKeyRecord]] = {i: [] for i in username_ids}
        if not username_ids:
            return found
        owners = AnyOf(tuple(Cond("ssh_username_id", "eq", i) for i in username_ids))
        # Keys created in one request share inserted_at: their names order them.
        order = (Order("inserted_at"), Order("key_name"))
        query = ListQuery((owners,), order, page_size=MAX_KEYS_SHOWN, count=False)
        for key in self.public_keys.page(query).records:
            found[key.ssh_username_id].append(key)
        return found
