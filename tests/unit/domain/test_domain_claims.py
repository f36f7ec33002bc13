"""NameClaim and AddressPool: the aggregates that make uniqueness hold."""

from __future__ import annotations

import ipaddress
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.claims import (
    CGNAT_POOL,
    AddressPool,
    NameClaim,
    NameTakenError,
    PoolExhaustedError,
    RangeOverlapError,
)

OWNERS = [UUID(int=i) for i in range(1, 4)]


def replayed(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_claim_ids_depend_on_kind_scope_and_name() -> None:
    assert NameClaim.id_for("cluster", "a") == NameClaim.id_for("cluster", "a")
    ids = {NameClaim.id_for("cluster", "a"), NameClaim.id_for("alias", "a"),
           NameClaim.id_for("alias", "s1", "a"), NameClaim.id_for("alias", "s2", "a")}
    assert len(ids) == 4


def test_claim_by_another_owner_is_refused_until_released() -> None:
    a, b = OWNERS[:2]
    claim = NameClaim(id=uuid4(), owner_id=a)
    with pytest.raises(NameTakenError):
        claim.claim(b, "cluster name x")
    claim.release(b)  # not the owner: nothing happens
    assert claim.owner_id == a
    claim.release(a)
    claim.claim(b, "cluster name x")
    assert claim.owner_id == b


def test_reclaim_by_the_owner_records_nothing() -> None:
    claim = NameClaim(id=uuid4(), owner_id=OWNERS[0])
    claim.collect_events()
    claim.claim(OWNERS[0], "x")
    assert claim.collect_events() == []


@settings(deadline=None, max_examples=80)
@given(st.lists(st.tuples(st.sampled_from(["claim", "release"]), st.sampled_from(OWNERS)),
                max_size=40))
def test_a_claim_never_has_two_owners(ops: list[tuple[str, UUID]]) -> None:
    claim = NameClaim(id=uuid4(), owner_id=OWNERS[0])
    owner: UUID | None = OWNERS[0]
    history: list[Any] = list(claim.collect_events())
    for op, who in ops:
        if op == "claim":
            try:
                claim.claim(who, "x")
            except NameTakenError:
                assert owner is not None and owner != who
            else:
                assert owner in (None, who)
                owner = who
        else:
            claim.release(who)
            owner = None if owner == who else owner
        assert claim.owner_id == owner
        history += claim.collect_events()
    assert vars(replayed(history)) == vars(claim)


def test_auto_allocation_hands_out_consecutive_slash_24s() -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    got = [pool.allocate(uuid4(), None) for _ in range(3)]
    assert got == ["100.64.0.0/24", "100.64.1.0/24", "100.64.2.0/24"]


def test_auto_allocation_skips_requested_ranges_and_reuses_released_ones() -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    big, first = uuid4(), uuid4()
    pool.allocate(big, "100.64.0.0/23")
    assert pool.allocate(first, None) == "100.64.2.0/24"
    pool.release(big)
    assert pool.allocate(uuid4(), None) == "100.64.0.0/24"


def test_overlapping_request_is_refused_but_disjoint_or_outside_pool_is_fine() -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    pool.allocate(uuid4(), "100.64.0.0/16")
    with pytest.raises(RangeOverlapError):
        pool.allocate(uuid4(), "100.64.3.0/24")
    with pytest.raises(RangeOverlapError):
        pool.allocate(uuid4(), "100.0.0.0/8")
    assert pool.allocate(uuid4(), "100.65.0.0/24") == "100.65.0.0/24"
    assert pool.allocate(uuid4(), "10.0.0.0/8") == "10.0.0.0/8"


def test_release_of_unknown_cluster_records_nothing() -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    pool.collect_events()
    pool.release(uuid4())
    assert pool.collect_events() == []


def test_full_pool_is_reported() -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    pool.allocate(uuid4(), str(CGNAT_POOL))
    with pytest.raises(PoolExhaustedError):
        pool.allocate(uuid4(), None)


REQUESTS = st.none() | st.sampled_from([
    "100.64.0.0/24", "100.64.0.0/22", "100.64.1.0/24", "100.64.4.0/24", "100.64.0.0/16",
    "10.0.0.0/8",
])


@settings(deadline=None, max_examples=80)
@given(st.lists(st.tuples(st.sampled_from(["allocate", "release"]), REQUESTS, st.integers(0, 5)),
                max_size=30))
def test_allocations_never_overlap(ops: list[tuple[str, str | None, int]]) -> None:
    pool = AddressPool(id=AddressPool.POOL_ID)
    clusters = [uuid4() for _ in range(6)]
    history: list[Any] = list(pool.collect_events())
    for op, requested, index in ops:
        owner = clusters[index]
        if op == "release":
            pool.release(owner)
            assert str(owner) not in pool.ranges
        else:
            try:
                cidr = pool.allocate(owner, requested)
            except RangeOverlapError:
                assert requested is not None
            else:
                assert pool.ranges[str(owner)] == cidr
                if requested is None:
                    net = ipaddress.IPv4Network(cidr)
                    assert net.prefixlen == 24 and net.subnet_of(CGNAT_POOL)
        nets = [ipaddress.IPv4Network(c) for c in pool.ranges.values()]
        for i, a in enumerate(nets):
            assert not any(a.overlaps(b) for b in nets[i + 1:]), pool.ranges
        history += pool.collect_events()
    assert replayed(history).ranges == pool.ranges
