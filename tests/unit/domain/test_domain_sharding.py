"""Cluster sharding: every cluster placed once, capacity respected, orphans only when degraded,
and the same answer whatever order the admins and clusters are listed in."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from domain.sharding import Budget, edge_node_capacity, shard

names = st.text("abcdefgh", min_size=1, max_size=6)
admins = st.dictionaries(names, st.integers(0, 60), max_size=5)
clusters = st.dictionaries(names, st.integers(0, 40), max_size=12)


@given(admins, clusters)
def test_every_cluster_is_owned_or_orphaned_exactly_once(caps: dict[str, int],
                                                         sizes: dict[str, int]) -> None:
    result = shard([Budget(n, c) for n, c in caps.items()], sizes)
    assert set(result.owner).isdisjoint(result.orphaned)
    assert set(result.owner) | set(result.orphaned) == set(sizes)
    assert set(result.owner.values()) <= set(caps)


@given(admins, clusters)
def test_degraded_is_more_nodes_than_capacity_and_orphans_only_then(
    caps: dict[str, int], sizes: dict[str, int]
) -> None:
    result = shard([Budget(n, c) for n, c in caps.items()], sizes)
    assert result.degraded == (sum(sizes.values()) > sum(caps.values()))
    if not result.degraded and caps:
        assert result.orphaned == ()


@given(admins, clusters)
def test_when_degraded_no_admin_is_over_its_budget(caps: dict[str, int],
                                                   sizes: dict[str, int]) -> None:
    result = shard([Budget(n, c) for n, c in caps.items()], sizes)
    if result.degraded:
        for admin, capacity in caps.items():
            assert sum(sizes[c] for c in result.clusters_of(admin)) <= capacity
        # An orphan fits nowhere: no admin has that much room left.
        for orphan in result.orphaned:
            for admin, capacity in caps.items():
                used = sum(sizes[c] for c in result.clusters_of(admin))
                assert capacity - used < sizes[orphan]


@given(admins, clusters, st.randoms(use_true_random=False))
def test_the_answer_does_not_depend_on_input_order(
    caps: dict[str, int], sizes: dict[str, int], rng: random.Random
) -> None:
    budgets = [Budget(n, c) for n, c in caps.items()]
    shuffled_budgets = budgets[:]
    rng.shuffle(shuffled_budgets)
    items = list(sizes.items())
    rng.shuffle(items)
    assert shard(budgets, sizes) == shard(shuffled_budgets, dict(items))


def test_largest_cluster_goes_to_the_roomiest_admin_ties_by_name() -> None:
    result = shard([Budget("admin-b", 10), Budget("admin-a", 10)], {"big": 6, "small": 3})
    assert result.owner == {"big": "admin-a", "small": "admin-b"}


def test_edge_node_capacity_is_the_budget_minus_the_mesh() -> None:
    assert edge_node_capacity(250, 2) == 249
    assert edge_node_capacity(250, 1) == 250
    assert edge_node_capacity(1, 5) == 0
