"""What the Nodes context reads: clusters, enrollment keys, nodes and aliases as records (and
the admins among which the nodes are sharded).

Route modules and the ports of the application services ask these questions by name
(`node_by_api_token`, `nodes_of_clusters`) instead of naming tables and columns themselves.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from projections.fleet_tables import (
    AdminRecord,
    AliasRecord,
    ClusterRecord,
    EnrollmentKeyRecord,
    NodeRecord,
)
from projections.query import AnyOf, Cond, ListQuery
from projections.records import Reads, Records, equal
from projections.targets import all_rows

CHUNK = 500  # ids per query: keeps each OR-list a reasonable statement
PAGE = 5000


class FleetReads(Reads):
    clusters: Records[ClusterRecord]
    enrollment_keys: Records[EnrollmentKeyRecord]
    nodes: Records[NodeRecord]
    aliases: Records[AliasRecord]
    admins: Records[AdminRecord]

    def cluster_named(self, name: str) -> ClusterRecord | None:
        return self.clusters.first(equal("name", name))

    def nodes_of_clusters(self, cluster_ids: list[UUID]) -> dict[UUID, list[NodeRecord]]:
        """The nodes of a page of clusters, each cluster's in key order, in few queries."""
        found: dict[UUID, list[NodeRecord]] = {i: [] for i in cluster_ids}
        for start in range(0, len(cluster_ids), CHUNK):
            part = cluster_ids[start:start + CHUNK]
            of_part = AnyOf(tuple(Cond("cluster_id", "eq", i) for i in part))
            for node in self.nodes.every(of_part, size=PAGE):
                found[node.cluster_id].append(node)
        return found

    def node_by_api_token(self, token: str) -> NodeRecord | None:
        found = self.nodes.select({"api_token": token}, 1)
        return found[0] if found else None

    async def node_by_api_token_async(self, token: str) -> NodeRecord | None:
        found = await self.nodes.select_async({"api_token": token}, 1)
        return found[0] if found else None

    def cluster_sizes(self) -> dict[str, int]:
        """Every cluster's node count by name (two columns read, for the whole fleet)."""
        rows = all_rows(self.view, "clusters", [], PAGE, ("name", "node_count"), order="name")
        return {r["name"]: r["node_count"] for r in rows}

    def node_ids_by_cluster(self) -> dict[str, list[UUID]]:
        """Every cluster's node ids by cluster name (clusters without nodes included)."""
        nodes: dict[str, list[UUID]] = {name: [] for name in self.cluster_sizes()}
        for row in all_rows(self.view, "nodes", [], PAGE, ("id", "cluster_name")):
            nodes.setdefault(row["cluster_name"], []).append(row["id"])
        return nodes

    def silent_nodes(
        self, seen_before: datetime, statuses: tuple[str, ...], limit: int
    ) -> list[UUID]:
        """Nodes in one of `statuses` not heard from since `seen_before`."""
        in_status = AnyOf(tuple(Cond("status", "eq", s) for s in statuses))
        query = ListQuery((Cond("last_seen_at", "lt", seen_before), in_status), page_size=limit)
        return self.nodes.ids(query)
