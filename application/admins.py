"""Admin membership: each admin process joins its admin cluster, checks in, leaves cleanly, and
forgets peers that went silent. Topology, the weak leader and cluster shards are computed from
the read model, so every admin reaches the same answer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from application.counters import Counters
from application.ports import AdminCheckins, AdminDirectory, AdminMember
from application.write_path import UnitOfWork, WritePath
from domain.admin import Admin, admin_name, admin_uuid
from domain.sharding import Budget, Shards, edge_node_capacity, shard

ZOMBIE = "no check-in within the forget threshold"
# online: checked in recently; offline: silent since; disconnected: it left cleanly.
AdminStatus = Literal["online", "offline", "disconnected"]


@dataclass(frozen=True)
class AdminProfile:
    """What this process announces: ADMIN_ID, ADMIN_CLUSTER_NAME, ADMIN_MAX_PEERS, its URL."""

    admin_id: str
    admin_cluster_name: str
    max_peers: int
    url: str

    @property
    def name(self) -> str:
        return admin_name(self.admin_id)


@dataclass(frozen=True)
class Topology:
    """One recomputation of the admin cluster as this admin sees it."""

    me: AdminProfile
    members: list[tuple[AdminMember, AdminStatus]]  # every known admin with its status
    live: list[AdminMember]  # online admins of my admin cluster, by name
    cluster_sizes: dict[str, int]
    shards: Shards
    computed_at: datetime
    edge_capacity: dict[str, int] = field(default_factory=dict)

    @property
    def total_nodes(self) -> int:
        return sum(self.cluster_sizes.values())

    @property
    def weak_leader(self) -> str:
        return self.live[0].name if self.live else self.me.name

    @property
    def left_out(self) -> bool:
        """This running admin is not a present member: a peer forgot it while it could not
        check in (partitioned from the database, or the database away, for longer than
        ADMIN_FORGET_AFTER_SECONDS), or it left."""
        mine = admin_uuid(self.me.admin_id)
        return not any(m.id == mine and m.present for m, _ in self.members)


class Admins:
    """Membership commands and the topology computation, for this admin process."""

    def __init__(  # noqa: PLR0913
        self, writes: WritePath, directory: AdminDirectory, checkins: AdminCheckins,
        counters: Counters, me: AdminProfile, offline_after: timedelta,
    ) -> None:
        self.writes, self.directory, self.checkins = writes, directory, checkins
        self.counters, self.me, self.offline_after = counters, me, offline_after
        self._latest: Topology | None = None
        self._lock = threading.Lock()
        self.joined = False  # recorded as joined by this process (a failed join is retried)
        # When this admin could hear its peers again after the database was away: their
        # silence counts from then (kept for the recomputations of API reads, which do not know).
        self.heard_since: datetime | None = None

    def join(self) -> None:
        me = self.me

        def decide(uow: UnitOfWork) -> None:
            admin = uow.find(Admin, admin_uuid(me.admin_id))
            if admin is None:
                uow.add(Admin.join(me.admin_id, me.admin_cluster_name, me.max_peers, me.url,
                                   uow.now))
            else:
                admin.rejoin(me.admin_cluster_name, me.max_peers, me.url, uow.now)
                uow.add(admin)

        self.writes.run(decide)
        self.joined = True
        self.check_in()

    def check_in(self) -> None:
        self.checkins.check_in(admin_uuid(self.me.admin_id), self.writes.clock.now())
        self.counters.add("membership.checkins_total")

    def leave(self) -> None:
        def decide(uow: UnitOfWork) -> None:
            admin = uow.find(Admin, admin_uuid(self.me.admin_id))
            if admin is not None:
                admin.leave(uow.now)
                uow.add(admin)

        self.writes.run(decide)

    def forget_silent(self, after: timedelta, heard_since: datetime | None = None) -> int:
        """Zombie cleanup: peers silent for `after` leave the topology (they join again when
        they notice). `heard_since`: when this admin could hear them again after the database
        was away (their silence counts from then); kept for later calls."""
        heard_since = self._heard(heard_since)
        now = self.writes.clock.now()
        silent = [m.id for m in self.directory.members()
                  if m.present and m.id != admin_uuid(self.me.admin_id)
                  and now - _last_heard(m, heard_since) >= after]

        def decide(uow: UnitOfWork) -> None:
            for admin_id in silent:
                admin = uow.find(Admin, admin_id)
                if admin is not None:
                    admin.forget(uow.now, ZOMBIE)
                    uow.add(admin)

        if silent:
            self.writes.run(decide)
        self.counters.add("vpn.zombie_cleanup_total")
        self.counters.set("vpn.zombie_cleanup_deleted_count", len(silent))
        return len(silent)

    def recompute(self, heard_since: datetime | None = None) -> Topology:
        """`heard_since`: as in `forget_silent`."""
        heard_since = self._heard(heard_since)
        now = self.writes.clock.now()
        members = self.directory.members()
        statuses = [(m, self._status(m, now, heard_since)) for m in members]
        mine = self.me.admin_cluster_name
        live = sorted((m for m, s in statuses if s == "online" and m.admin_cluster_name == mine),
                      key=lambda m: m.name)
        capacity = {m.name: edge_node_capacity(m.max_peers, len(live) or 1) for m in live}
        sizes = self.directory.cluster_sizes()
        shards = shard([Budget(n, c) for n, c in capacity.items()], sizes)
        topology = Topology(self.me, statuses, live, sizes, shards, now, capacity)
        with self._lock:
            self._latest = topology
        self.counters.add("metadata.recomputations_total")
        return topology

    def _heard(self, since: datetime | None) -> datetime | None:
        if since is not None and (self.heard_since is None or since > self.heard_since):
            self.heard_since = since
        return self.heard_since

    def latest(self) -> Topology:
        with self._lock:
            latest = self._latest
        return latest if latest is not None else self.recompute()

    def degraded(self) -> bool:
        return self.latest().shards.degraded

    def _status(self, member: AdminMember, now: datetime,
                heard_since: datetime | None) -> AdminStatus:
        if not member.present:
            return "disconnected"
        if member.id == admin_uuid(self.me.admin_id):
            return "online"  # this process is, by definition, alive
        return "online" if now - _last_heard(member, heard_since) < self.offline_after else (
            "offline")


def _last_heard(member: AdminMember, heard_since: datetime | None) -> datetime:
    """A peer's last check-in, or when this admin could hear it again if later; a peer that
    never checked in counts as silent since ever (unless heard since)."""
    seen = member.last_checked_in
    if heard_since is not None and (seen is None or heard_since > seen):
        return heard_since
    return seen if seen is not None else datetime.min.replace(tzinfo=UTC)
