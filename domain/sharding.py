"""Edge clusters sharded across the live admins by capacity.

Every admin computes this from the same read model, so they agree without talking: the result
depends only on who is live, their budgets and the cluster sizes, never on input order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Budget:
    """One live admin's name and edge_node_capacity."""

    name: str
    capacity: int


@dataclass(frozen=True)
class Shards:
    """Cluster name -> owning admin; clusters no admin could take are orphaned."""

    owner: dict[str, str] = field(default_factory=dict)
    orphaned: tuple[str, ...] = ()
    degraded: bool = False

    def clusters_of(self, admin: str) -> list[str]:
        return sorted(c for c, a in self.owner.items() if a == admin)


def edge_node_capacity(max_peers: int, total_admins: int) -> int:
    """The seed's rule: the peer budget minus the mesh links to the other admins."""
    return max(max_peers - (total_admins - 1), 0)


def shard(admins: Sequence[Budget], cluster_sizes: Mapping[str, int]) -> Shards:
    """Largest clusters first, each to the admin with the most room left (ties: by name).

    A cluster is never split: its nodes live on one admin. Degraded means more nodes than
    the admins' total capacity; only then are clusters that fit nowhere orphaned. When the
    total fits but packing leaves no single admin room for a cluster, it goes to the admin
    with the most room, slightly over its budget, since the seed promises no orphans then.
    """
    total_nodes = sum(cluster_sizes.values())
    degraded = total_nodes > sum(a.capacity for a in admins)
    room = {a.name: a.capacity for a in admins}
    owner: dict[str, str] = {}
    orphaned: list[str] = []
    for cluster in sorted(cluster_sizes, key=lambda c: (-cluster_sizes[c], c)):
        size = cluster_sizes[cluster]
        roomiest = min(room, key=lambda name: (-room[name], name), default=None)
        if roomiest is None or (degraded and room[roomiest] < size):
            orphaned.append(cluster)
            continue
        owner[cluster] = roomiest
        room[roomiest] -= size
    return Shards(owner, tuple(sorted(orphaned)), degraded)
