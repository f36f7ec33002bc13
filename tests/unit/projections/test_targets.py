"""Targeting resolution on the memory view, one rule per test (§E30).

tests/integration/test_targeting_sql.py checks the same resolver against a model on every view.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest

from adapters.memory_views import MemoryTableView
from domain.node import IdType
from domain.node_status import NodeStatus
from domain.targeting import ClusterFilters, NodeFilters, Targeting, TargetType
from projections.fleet_tables import FLEET_TABLES, NODES
from projections.model import Change, Upsert
from projections.targets import Resolved, resolve

MARCH_1 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MARCH_2 = datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
CLUSTERS = {  # name: (ipv4_range, node_limit, inserted_at)
    "prod-east": ("10.0.1.0/24", 10, MARCH_1),
    "prod-west": ("10.0.2.0/24", None, MARCH_1),
    "staging": ("10.9.0.0/24", 3, MARCH_2),
}


def node_id(n: int) -> UUID:
    return UUID(int=n)


# id: (cluster, version, status, inserted_at)
NODE_SPECS = {
    1: ("prod-east", "1.2.0", "healthy", MARCH_1),
    2: ("prod-east", "1.3.0", "unhealthy", MARCH_2),
    3: ("prod-west", "1.2.0", "healthy", MARCH_2),
    4: ("staging", None, "healthy", MARCH_1),
}


@pytest.fixture
def view() -> MemoryTableView:
    memory = MemoryTableView(FLEET_TABLES)
    changes: list[Change] = []
    counts = {name: sum(1 for spec in NODE_SPECS.values() if spec[0] == name)
              for name in CLUSTERS}
    for name, (ipv4_range, limit, at) in CLUSTERS.items():
        changes.append(Upsert("clusters", {
            "id": uuid5(node_id(0), name), "name": name, "ipv4_range": ipv4_range,
            "node_limit": limit, "node_count": counts[name], "inserted_at": at,
            "updated_at": at}))
    for n, (cluster, version, status, at) in NODE_SPECS.items():
        row: dict[str, Any] = {c.name: None for c in NODES.columns}
        row.update(id=node_id(n), cluster_id=uuid5(node_id(0), cluster), cluster_name=cluster,
                   id_type=IdType.PERSISTENT.value, status=status, version=version,
                   self_update_enabled=n % 2 == 1, inserted_at=at, updated_at=at)
        changes.append(Upsert("nodes", row))
    memory.apply_untracked(changes)
    return memory


def ids(view: MemoryTableView, targeting: Targeting) -> list[int]:
    return [r.node_id.int for r in resolve(view, targeting)]


def test_all_reaches_every_node_in_id_order(view: MemoryTableView) -> None:
    assert ids(view, Targeting(type=TargetType.ALL)) == [1, 2, 3, 4]


def test_resolved_nodes_carry_their_cluster(view: MemoryTableView) -> None:
    found = resolve(view, Targeting(type=TargetType.NODES, node_ids=[node_id(3)]))
    assert found == [Resolved(node_id(3), "prod-west")]


def test_nodes_skips_unknown_ids_and_names_each_node_once(view: MemoryTableView) -> None:
    listed = [node_id(2), uuid4(), node_id(1), node_id(2), node_id(2)]
    assert ids(view, Targeting(type=TargetType.NODES, node_ids=listed)) == [1, 2]


def test_clusters_match_names_exactly_and_once(view: MemoryTableView) -> None:
    names = ["prod-east", "Prod-West", "prod-*", "nowhere", "prod-east"]
    assert ids(view, Targeting(type=TargetType.CLUSTERS, cluster_names=names)) == [1, 2]


def test_node_filters_and_together_with_wildcards(view: MemoryTableView) -> None:
    filters = NodeFilters(cluster_name="prod*", version="1.2.*", status=NodeStatus.HEALTHY)
    assert ids(view, Targeting(type=TargetType.ALL, node_filters=filters)) == [1, 3]


def test_a_version_filter_never_matches_a_node_without_a_version(view: MemoryTableView) -> None:
    assert ids(view, Targeting(type=TargetType.ALL, node_filters=NodeFilters(version="*"))) == [
        1, 2, 3]


def test_cluster_filters_pick_the_clusters_whose_nodes_are_reached(
    view: MemoryTableView,
) -> None:
    limited = ClusterFilters(has_node_limit=True, node_count__gte=2)
    assert ids(view, Targeting(type=TargetType.ALL, cluster_filters=limited)) == [1, 2]
    by_range = ClusterFilters(ipv4_range="10.0.*")
    assert ids(view, Targeting(type=TargetType.ALL, cluster_filters=by_range)) == [1, 2, 3]


def test_both_filters_and_the_type_all_apply(view: MemoryTableView) -> None:
    targeting = Targeting(
        type=TargetType.CLUSTERS, cluster_names=["prod-east", "prod-west", "staging"],
        cluster_filters=ClusterFilters(name="prod-*"),
        node_filters=NodeFilters(self_update_enabled=True),
    )
    assert ids(view, targeting) == [1, 3]


def test_a_plain_date_bound_covers_that_whole_day(view: MemoryTableView) -> None:
    upto_march_1 = NodeFilters(inserted_at__lte="2026-03-01")
    assert ids(view, Targeting(type=TargetType.ALL, node_filters=upto_march_1)) == [1, 4]
    from_march_2 = NodeFilters(inserted_at__gte="2026-03-02")
    assert ids(view, Targeting(type=TargetType.ALL, node_filters=from_march_2)) == [2, 3]
    instant = NodeFilters(inserted_at__gte="2026-03-01T10:30:00+01:00")  # = 09:30 UTC
    assert ids(view, Targeting(type=TargetType.ALL, node_filters=instant)) == [1, 2, 3, 4]


@pytest.mark.parametrize("targeting", [
    Targeting(type=TargetType.CLUSTERS, cluster_names=["nowhere"]),
    Targeting(type=TargetType.ALL, cluster_filters=ClusterFilters(name="qa-*")),
    Targeting(type=TargetType.CLUSTERS, cluster_names=["staging"],
              cluster_filters=ClusterFilters(name="prod-*")),
    Targeting(type=TargetType.NODES, node_ids=[node_id(4)],
              cluster_filters=ClusterFilters(has_node_limit=False)),
    Targeting(type=TargetType.ALL, cluster_filters=ClusterFilters(node_count=2**64)),
], ids=["unknown-cluster", "no-cluster-matches", "names-outside-filter", "node-outside-scope",
        "count-beyond-64-bits"])
def test_an_empty_scope_reaches_no_node(view: MemoryTableView, targeting: Targeting) -> None:
    assert resolve(view, targeting) == []
