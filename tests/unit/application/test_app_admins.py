"""Admin membership on the in-memory store: two admin processes share one store and read model;
liveness, the weak leader, zombie cleanup, clean leaving and the degraded switch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from application.admins import Admins
from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from domain.admin import Admin, admin_uuid
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services, build_admins, build_services
from entrypoints.workers.membership import join_admin_cluster, membership_once
from tests.conftest import make_settings
from tests.fakes import FixedClock

OFFLINE = 15.0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def services(clock: FixedClock) -> Iterator[Services]:
    services = build_services(make_settings("memory://", admin_id="bbbbbbbbbbbb",
                                            admin_max_peers=10), clock=clock)
    services.start()
    yield services
    services.close()


def peer(services: Services, admin_id: str, **settings: object) -> Admins:
    """Another admin process: same store and read model, its own profile."""
    other = make_settings("memory://", admin_id=admin_id, **settings)
    return build_admins(other, services.writes, services.view, services.counters)


def enroll(services: Services, cluster: str, count: int) -> None:
    services.clusters.create(CreateCluster(name=cluster))
    key_id = services.enrollment_keys.issue(cluster, IssueEnrollmentKey(uses_remaining=None))
    blob = services.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
    for _ in range(count):
        services.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0"))


def test_two_admins_see_each_other_and_the_first_by_name_leads(services: Services) -> None:
    services.admins.join()
    a = peer(services, "aaaaaaaaaaaa", admin_max_peers=20)
    a.join()
    seen = services.admins.recompute()
    assert [m.name for m in seen.live] == ["admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"]
    assert seen.weak_leader == "admin-aaaaaaaaaaaa" == a.recompute().weak_leader
    # Each budget loses one peer to the mesh with the other admin.
    assert seen.edge_capacity == {"admin-aaaaaaaaaaaa": 19, "admin-bbbbbbbbbbbb": 9}


def test_a_silent_admin_goes_offline_then_is_forgotten_and_can_rejoin(
    services: Services, clock: FixedClock
) -> None:
    services.admins.join()
    a = peer(services, "aaaaaaaaaaaa")
    a.join()
    clock.advance(OFFLINE + 1)
    services.admins.check_in()
    seen = services.admins.recompute()
    assert [m.name for m in seen.live] == ["admin-bbbbbbbbbbbb"]
    assert seen.weak_leader == "admin-bbbbbbbbbbbb"
    assert dict((m.name, s) for m, s in seen.members)["admin-aaaaaaaaaaaa"] == "offline"
    assert services.admins.forget_silent(timedelta(seconds=OFFLINE)) == 1
    assert [m.name for m in services.admins.directory.members()] == ["admin-bbbbbbbbbbbb"]
    a.join()  # the same ADMIN_ID starting again
    assert {m.name for m in services.admins.recompute().live} == {
        "admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"}
    stored: object = services.store.repository.get(admin_uuid("aaaaaaaaaaaa"))
    assert isinstance(stored, Admin) and stored.present


def test_a_clean_shutdown_shows_disconnected_at_once(services: Services) -> None:
    services.admins.join()
    a = peer(services, "aaaaaaaaaaaa")
    a.join()
    a.leave()
    seen = services.admins.recompute()
    assert dict((m.name, s) for m, s in seen.members)["admin-aaaaaaaaaaaa"] == "disconnected"
    assert [m.name for m in seen.live] == ["admin-bbbbbbbbbbbb"]


def test_this_admin_never_forgets_itself(services: Services, clock: FixedClock) -> None:
    services.admins.join()
    clock.advance(10 * OFFLINE)
    assert services.admins.forget_silent(timedelta(seconds=OFFLINE)) == 0
    assert services.admins.recompute().weak_leader == "admin-bbbbbbbbbbbb"


def test_degraded_when_nodes_exceed_capacity_and_clusters_orphaned(services: Services) -> None:
    services.admins.join()
    enroll(services, "big", 7)
    enroll(services, "small", 3)
    assert not services.admins.recompute().shards.degraded  # 10 nodes, capacity 10
    enroll(services, "extra", 1)
    seen = services.admins.recompute()
    assert seen.shards.degraded and services.admins.degraded()
    assert seen.shards.owner == {"big": "admin-bbbbbbbbbbbb", "small": "admin-bbbbbbbbbbbb"}
    assert seen.shards.orphaned == ("extra",)
    # A second admin brings capacity: 9 + 9 >= 11.
    peer(services, "aaaaaaaaaaaa", admin_max_peers=10).join()
    seen = services.admins.recompute()
    assert not seen.shards.degraded and seen.shards.orphaned == ()
    assert set(seen.shards.owner.values()) == {"admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"}


def test_a_bad_admin_id_is_refused(services: Services) -> None:
    with pytest.raises(InvalidValueError):
        Admin.join("NOT-VALID", "admin-cluster-main", 10, "http://x", services.writes.clock.now())


def test_an_admin_forgotten_while_it_could_not_check_in_joins_again(
    services: Services, clock: FixedClock
) -> None:
    """Partitioned from the database (or the database away) for longer than the forget
    threshold, a running admin was forgotten by a peer and, checking in again, stayed out of
    the topology until restarted: its capacity lost for good."""
    join_admin_cluster(services)
    a = peer(services, "aaaaaaaaaaaa")
    a.join()
    for _ in range(8):  # a checks in; this admin cannot
        clock.advance(OFFLINE)
        a.check_in()
    assert a.forget_silent(timedelta(seconds=7 * OFFLINE)) == 1
    assert [m.name for m in a.recompute().live] == ["admin-aaaaaaaaaaaa"]
    membership_once(services)  # this admin's next pass, the database reachable again
    assert [m.name for m in a.recompute().live] == ["admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"]
    assert not services.admins.latest().left_out
