"""An admin process's membership of its admin cluster: joined, left cleanly, or forgotten as a
zombie. Liveness (check-ins) is not an event: it lives on the read side like node heartbeats."""

from __future__ import annotations

import re
from dataclasses import field
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import VPN_SUFFIX, InvalidValueError, declared_by_fields, name_id

ADMIN_ID = re.compile(r"^[a-z0-9]{12}\Z")
ADMIN_CLUSTER = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
MAX_PEERS_LIMIT = 1_000_000


def admin_uuid(admin_id: str) -> UUID:
    return name_id("admin", admin_id)


def admin_name(admin_id: str) -> str:
    return f"admin-{admin_id}"


def vpn_hostname(admin_id: str, admin_cluster_name: str) -> str:
    return f"{admin_name(admin_id)}.{admin_cluster_name}.{VPN_SUFFIX}"


def check_profile(admin_id: str, admin_cluster_name: str, max_peers: int) -> None:
    if not ADMIN_ID.match(admin_id):
        raise InvalidValueError("must be 12 lowercase letters or digits", "admin_id")
    if not ADMIN_CLUSTER.match(admin_cluster_name):
        raise InvalidValueError("must be a DNS label", "admin_cluster_name")
    if not 1 <= max_peers <= MAX_PEERS_LIMIT:
        raise InvalidValueError(f"must be between 1 and {MAX_PEERS_LIMIT}", "max_wireguard_peers")


@declared_by_fields
class Admin(Aggregate, created_event_name="Joined"):
    """One admin process's identity and peer budget, as it announced them."""

    id: UUID
    admin_id: str
    admin_cluster_name: str
    max_peers: int
    url: str
    at: datetime
    present: bool = field(default=True, init=False)

    @classmethod
    def join(
        cls, admin_id: str, admin_cluster_name: str, max_peers: int, url: str, at: datetime
    ) -> Admin:
        check_profile(admin_id, admin_cluster_name, max_peers)
        return cls(id=admin_uuid(admin_id), admin_id=admin_id,
                   admin_cluster_name=admin_cluster_name, max_peers=max_peers, url=url, at=at)

    def rejoin(self, admin_cluster_name: str, max_peers: int, url: str, at: datetime) -> None:
        """A restart with the same ADMIN_ID: recorded only if something changed."""
        check_profile(self.admin_id, admin_cluster_name, max_peers)
        same = (admin_cluster_name, max_peers, url) == (
            self.admin_cluster_name, self.max_peers, self.url)
        if self.present and same:
            return
        self._rejoined(admin_id=self.admin_id, admin_cluster_name=admin_cluster_name,
                       max_peers=max_peers, url=url, at=at)

    @event("Rejoined")
    def _rejoined(
        self, admin_id: str, admin_cluster_name: str, max_peers: int, url: str, at: datetime
    ) -> None:
        self.admin_cluster_name, self.max_peers, self.url = admin_cluster_name, max_peers, url
        self.present = True

    def leave(self, at: datetime) -> None:
        """A clean shutdown: peers see it `disconnected` at once instead of waiting it out."""
        if self.present:
            self._left(at=at)

    @event("Left")
    def _left(self, at: datetime) -> None:
        self.present = False

    def forget(self, at: datetime, reason: str) -> None:
        """Zombie cleanup: an admin silent past the threshold leaves the topology."""
        if self.present:
            self._forgotten(at=at, reason=reason)

    @event("Forgotten")
    def _forgotten(self, at: datetime, reason: str) -> None:
        self.present = False
