"""Cluster: naming rules, node_limit accounting, delete-when-empty, and replay fidelity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from application.store import EdgeStore
from domain.cluster import (
    Cluster,
    ClusterFullError,
    ClusterGoneError,
    ClusterNotEmptyError,
    check_ipv4_range,
)
from domain.shared import InvalidValueError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_cluster(node_limit: int | None = None, name: str = "prod-east") -> Cluster:
    return Cluster.create(uuid4(), name, "100.64.0.0/24", node_limit, AT)


def replayed(events: list[Any]) -> Any:
    """Rebuilds an aggregate the way a repository does: each event mutates the previous state."""
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


@pytest.mark.parametrize("name", ["a", "prod-east", "x" * 24, "0abc9", "a-b-c"])
def test_valid_names_are_accepted(name: str) -> None:
    assert new_cluster(name=name).name == name


@pytest.mark.parametrize(
    "name", ["", "x" * 25, "Prod", "-prod", "prod-", "prod_east", "prod.east", "default"]
)
def test_invalid_or_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        new_cluster(name=name)
    assert err.value.field == "name"


@pytest.mark.parametrize("limit", [0, -1])
def test_node_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(InvalidValueError):
        new_cluster(node_limit=limit)


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("100.64.0.0/24", "100.64.0.0/24"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.4/30", "10.1.2.4/30"),
    ],
)
def test_valid_ipv4_ranges_are_normalised(cidr: str, expected: str) -> None:
    assert check_ipv4_range(cidr) == expected


@pytest.mark.parametrize(
    "cidr", ["100.64.0.1/24", "10.0.0.0/7", "10.0.0.0/31", "300.1.1.0/24", "nonsense", "10.0.0.0"]
)
def test_invalid_ipv4_ranges_are_refused(cidr: str) -> None:
    with pytest.raises(InvalidValueError):
        check_ipv4_range(cidr)


def test_admit_refuses_when_full_and_release_frees_a_place() -> None:
    cluster = new_cluster(node_limit=2)
    first, second = uuid4(), uuid4()
    cluster.admit(first)
    cluster.admit(second)
    with pytest.raises(ClusterFullError):
        cluster.admit(uuid4())
    cluster.release(first)
    cluster.admit(uuid4())
    assert cluster.node_count == 2


def test_node_limit_cannot_drop_below_node_count() -> None:
    cluster = new_cluster(node_limit=5)
    for _ in range(3):
        cluster.admit(uuid4())
    with pytest.raises(InvalidValueError):
        cluster.change_node_limit(2, AT)
    cluster.change_node_limit(3, AT)
    cluster.change_node_limit(None, AT)
    assert cluster.node_limit is None


def test_unchanged_node_limit_records_no_event() -> None:
    cluster = new_cluster(node_limit=4)
    cluster.collect_events()
    cluster.change_node_limit(4, AT)
    assert cluster.collect_events() == []


def test_delete_only_when_empty_and_then_gone() -> None:
    cluster = new_cluster()
    node = uuid4()
    cluster.admit(node)
    with pytest.raises(ClusterNotEmptyError):
        cluster.delete(AT)
    cluster.release(node)
    cluster.delete(AT)
    assert cluster.deleted
    with pytest.raises(ClusterGoneError):
        cluster.admit(uuid4())
    with pytest.raises(ClusterGoneError):
        cluster.delete(AT)
    with pytest.raises(ClusterGoneError):
        cluster.change_node_limit(3, AT)


@settings(deadline=None, max_examples=60)
@given(
    limit=st.none() | st.integers(1, 6),
    ops=st.lists(st.sampled_from(["admit", "release", "limit"]) | st.integers(1, 8), max_size=60),
)
def test_count_tracks_admits_minus_releases_and_respects_limit(
    limit: int | None, ops: list[Any]
) -> None:
    cluster = new_cluster(node_limit=limit)
    members: list[UUID] = []
    history: list[Any] = list(cluster.collect_events())
    for op in ops:
        if op == "admit":
            try:
                node = uuid4()
                cluster.admit(node)
                members.append(node)
            except ClusterFullError:
                assert cluster.node_limit is not None and cluster.node_count == cluster.node_limit
        elif op == "release" and members:
            cluster.release(members.pop())
        elif isinstance(op, int):
            try:
                cluster.change_node_limit(op, AT)
            except InvalidValueError:
                assert op < cluster.node_count
        assert cluster.node_count == len(members)
        assert cluster.node_limit is None or cluster.node_count <= cluster.node_limit
        history += cluster.collect_events()
    assert vars(replayed(history)) == vars(cluster)


class ClusterMachine(RuleBasedStateMachine):
    """Drives one cluster through random commands against a plain model of its counters."""

    members = Bundle("members")

    @initialize(limit=st.none() | st.integers(1, 4))
    def create(self, limit: int | None) -> None:
        self.cluster = new_cluster(node_limit=limit)
        self.history = list(self.cluster.collect_events())
        self.count, self.limit, self.deleted = 0, limit, False

    @rule(target=members, node=st.uuids())
    def admit(self, node: UUID) -> Any:
        full = self.limit is not None and self.count >= self.limit
        try:
            self.cluster.admit(node)
        except ClusterFullError:
            assert full and not self.deleted
        except ClusterGoneError:
            assert self.deleted
        else:
            assert not full and not self.deleted
            self.count += 1
            return node
        return multiple()  # refused nodes are not members, so they can never be released

    @rule(node=consumes(members))
    def release(self, node: UUID) -> None:
        self.cluster.release(node)
        self.count -= 1

    @rule(limit=st.none() | st.integers(1, 5))
    def change_limit(self, limit: int | None) -> None:
        try:
            self.cluster.change_node_limit(limit, AT)
        except ClusterGoneError:
            assert self.deleted
        except InvalidValueError:
            assert limit is not None and limit < self.count
        else:
            self.limit = limit

    @rule()
    def delete(self) -> None:
        try:
            self.cluster.delete(AT)
        except ClusterGoneError:
            assert self.deleted
        except ClusterNotEmptyError:
            assert self.count > 0
        else:
            self.deleted = True

    @invariant()
    def matches_model(self) -> None:
        if not hasattr(self, "cluster"):
            return
        self.history += self.cluster.collect_events()
        assert self.cluster.node_count == self.count
        assert self.cluster.node_limit == self.limit
        assert self.cluster.deleted is self.deleted
        if self.limit is not None:
            assert self.count <= self.limit

    def teardown(self) -> None:
        if hasattr(self, "cluster"):
            assert vars(replayed(self.history)) == vars(self.cluster)


TestClusterMachine = ClusterMachine.TestCase
TestClusterMachine.settings = settings(deadline=None, max_examples=40, stateful_step_count=30)


def test_store_round_trip_across_snapshots() -> None:
    # EdgeStore snapshots clusters every 100 events; the loaded state must not depend on that.
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    cluster = new_cluster(node_limit=None)
    for i in range(130):
        node = uuid4()
        cluster.admit(node)
        if i % 3:
            cluster.release(node)
        store.save(cluster)
    loaded: Any = store.repository.get(cluster.id)
    assert (loaded.version, loaded.node_count, loaded.node_limit) == (
        cluster.version, cluster.node_count, None
    )
    assert store.snapshots is not None
    assert list(store.snapshots.get(cluster.id))
