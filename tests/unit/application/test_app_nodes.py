"""Nodes service: enrollment, re-enrollment, heartbeats, cluster moves and deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.agent_protocol import EnrollNode, Ports, ReregisterNode
from application.aliases import CreateAlias
from application.clusters import CreateCluster, UpdateCluster
from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from application.errors import NotFoundError, UnauthorizedError
from application.nodes import ChangeCluster
from domain.claims import NameTakenError
from domain.cluster import ClusterFullError
from domain.enrollment_key import KeyRefusedError, encode_blob
from domain.node import SameClusterError
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services
from tests.fakes import FixedClock


def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


@pytest.fixture
def services(clocked_services: Services) -> Services:
    return clocked_services


def cluster(services: Services, name: str, **kw: object) -> UUID:
    return services.clusters.create(CreateCluster(name=name, **kw))  # type: ignore[arg-type]


def key(services: Services, cluster_name: str, **kw: object) -> tuple[UUID, str]:
    key_id = services.enrollment_keys.issue(cluster_name, IssueEnrollmentKey(**kw))  # type: ignore[arg-type]
    return key_id, must_get(services, "enrollment_keys", key_id)["key"]


def node_count(services: Services, cluster_id: UUID) -> int:
    return int(must_get(services, "clusters", cluster_id)["node_count"])


def test_enroll_registers_node_and_consumes_a_use(services: Services, clock: FixedClock) -> None:
    cid = cluster(services, "prod")
    key_id, blob = key(services, "prod", uses_remaining=3)
    clock.advance(5)
    ports = Ports(ssh_port=2222)
    done = services.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0", ports=ports))
    assert not done.reregistered
    row = must_get(services, "nodes", done.node_id)
    assert (row["cluster_id"], row["api_token"], row["version"], row["ssh_port"]) == (
        cid, done.api_token, "1.0.0", 2222
    )
    assert (row["status"], row["id_type"], row["http_port"]) == ("healthy", "random", 44000)
    key_row = must_get(services, "enrollment_keys", key_id)
    assert (key_row["uses_remaining"], key_row["last_used_at"]) == (2, clock.now())
    assert node_count(services, cid) == 1


def test_enroll_refuses_what_is_not_a_key_blob(services: Services) -> None:
    with pytest.raises(InvalidValueError):
        services.nodes.enroll(EnrollNode(enrollment_key="not a blob"))


def test_enroll_with_unknown_or_deleted_key_is_unauthorized(services: Services) -> None:
    cluster(services, "prod")
    with pytest.raises(UnauthorizedError):
        services.nodes.enroll(EnrollNode(enrollment_key=encode_blob("http://x", "forged")))
    key_id, blob = key(services, "prod")
    services.enrollment_keys.delete(key_id)
    with pytest.raises(UnauthorizedError):
        services.nodes.enroll(EnrollNode(enrollment_key=blob))


def test_spent_key_is_refused_until_revived(services: Services) -> None:
    cid = cluster(services, "prod")
    key_id, blob = key(services, "prod")
    services.nodes.enroll(EnrollNode(enrollment_key=blob))
    with pytest.raises(KeyRefusedError):
        services.nodes.enroll(EnrollNode(enrollment_key=blob))
    assert must_get(services, "enrollment_keys", key_id)["uses_remaining"] == 0
    services.enrollment_keys.update(key_id, UpdateEnrollmentKey(uses_remaining=1))
    services.nodes.enroll(EnrollNode(enrollment_key=blob))
    assert node_count(services, cid) == 2


def test_expired_key_is_refused(services: Services, clock: FixedClock) -> None:
    cluster(services, "prod")
    expiry = clock.now() + timedelta(hours=1)
    key_id, blob = key(services, "prod", uses_remaining=None, expired_at=expiry)
    services.nodes.enroll(EnrollNode(enrollment_key=blob))
    clock.advance(3600)
    with pytest.raises(KeyRefusedError):
        services.nodes.enroll(EnrollNode(enrollment_key=blob))
    # Spec 5.4: PATCH can revive an expired key.
    services.enrollment_keys.update(key_id, UpdateEnrollmentKey(expired_at=None))
    services.nodes.enroll(EnrollNode(enrollment_key=blob))


def test_key_of_a_deleted_cluster_is_refused(services: Services) -> None:
    cluster(services, "prod")
    _, blob = key(services, "prod")
    services.clusters.delete("prod")
    cluster(services, "prod")  # a new cluster with the old name does not revive old keys
    with pytest.raises(KeyRefusedError):
        services.nodes.enroll(EnrollNode(enrollment_key=blob))


def test_full_cluster_refuses_without_spending_the_key(services: Services) -> None:
    cid = cluster(services, "prod", node_limit=1)
    key_id, blob = key(services, "prod", uses_remaining=5)
    services.nodes.enroll(EnrollNode(enrollment_key=blob))
    with pytest.raises(ClusterFullError):
        services.nodes.enroll(EnrollNode(enrollment_key=blob))
    assert must_get(services, "enrollment_keys", key_id)["uses_remaining"] == 4
    assert node_count(services, cid) == 1


def test_persistent_re_enrollment_reregisters_the_same_node(services: Services) -> None:
    cid = cluster(services, "prod")
    key_id, blob = key(services, "prod", uses_remaining=None)
    node_id = uuid4()
    enroll = EnrollNode(enrollment_key=blob, id_type="persistent", node_id=node_id,
                        version="1.0.0")
    first = services.nodes.enroll(enroll)
    services.nodes.set_status(node_id, NodeStatus.UNREACHABLE, "timeout")
    again = services.nodes.enroll(EnrollNode(
        enrollment_key=blob, id_type="persistent", node_id=node_id, version="1.1.0"
    ))
    assert (first.node_id, again.node_id, again.reregistered) == (node_id, node_id, True)
    assert again.api_token != first.api_token
    row = must_get(services, "nodes", node_id)
    assert (row["version"], row["status"]) == ("1.1.0", "healthy")
    assert row["api_token"] == again.api_token
    assert node_count(services, cid) == 1
    assert must_get(services, "enrollment_keys", key_id)["last_used_at"] is not None


def test_persistent_re_enrollment_with_another_clusters_key_moves_it(services: Services) -> None:
    old, new = cluster(services, "old"), cluster(services, "new")
    _, old_blob = key(services, "old")
    _, new_blob = key(services, "new")
    node_id = uuid4()
    services.nodes.enroll(EnrollNode(enrollment_key=old_blob, id_type="persistent",
                                     node_id=node_id))
    services.nodes.enroll(EnrollNode(enrollment_key=new_blob, id_type="persistent",
                                     node_id=node_id))
    assert must_get(services, "nodes", node_id)["cluster_name"] == "new"
    assert (node_count(services, old), node_count(services, new)) == (0, 1)


def test_deleted_persistent_id_comes_back_as_a_fresh_node(services: Services) -> None:
    cid = cluster(services, "prod")
    _, blob = key(services, "prod", uses_remaining=None)
    node_id = uuid4()
    cmd = EnrollNode(enrollment_key=blob, id_type="persistent", node_id=node_id)
    first = services.nodes.enroll(cmd)
    services.aliases.create(node_id, CreateAlias(name="web"))
    services.nodes.delete(node_id)
    again = services.nodes.enroll(cmd)
    assert (again.node_id, again.reregistered) == (node_id, False)
    assert again.api_token != first.api_token
    assert must_get(services, "nodes", node_id)["api_token"] == again.api_token
    assert node_count(services, cid) == 1
    # Its old aliases stay deleted, so the name is free for the revived node.
    services.aliases.create(node_id, CreateAlias(name="web"))


def test_random_ids_ignore_a_sent_node_id(services: Services) -> None:
    cluster(services, "prod")
    _, blob = key(services, "prod", uses_remaining=None)
    sent = uuid4()
    got = {services.nodes.enroll(EnrollNode(enrollment_key=blob, node_id=sent)).node_id
           for _ in range(2)}
    assert len(got) == 2 and sent not in got


def enrolled(services: Services, cluster_name: str) -> UUID:
    _, blob = key(services, cluster_name)
    return services.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0")).node_id


def test_reregister_updates_version_and_ports(services: Services) -> None:
    cluster(services, "prod")
    node_id = enrolled(services, "prod")
    services.nodes.reregister(node_id, ReregisterNode(version="2.0.0", ports=Ports(http_port=8000)))
    row = must_get(services, "nodes", node_id)
    assert (row["version"], row["http_port"]) == ("2.0.0", 8000)
    with pytest.raises(NotFoundError):
        services.nodes.reregister(uuid4(), ReregisterNode())


def test_heartbeat_touches_and_changes_status_only_on_transition(
    services: Services, clock: FixedClock
) -> None:
    cluster(services, "prod")
    node_id = enrolled(services, "prod")
    clock.advance(30)
    assert services.nodes.heartbeat(node_id, NodeStatus.HEALTHY) == "healthy"
    assert must_get(services, "nodes", node_id)["last_seen_at"] == clock.now()
    assert services.nodes.heartbeat(node_id, NodeStatus.UNHEALTHY) == "unhealthy"
    assert must_get(services, "nodes", node_id)["status"] == "unhealthy"
    assert services.nodes.set_status(node_id, NodeStatus.UNHEALTHY, "again") is False
    with pytest.raises(NotFoundError):
        services.nodes.heartbeat(uuid4(), NodeStatus.HEALTHY)


def test_sweep_stale_counts_silence_only_while_someone_listened(
    services: Services, clock: FixedClock
) -> None:
    cluster(services, "prod")
    quiet, chatty = enrolled(services, "prod"), enrolled(services, "prod")
    services.nodes.heartbeat(quiet, NodeStatus.HEALTHY)
    services.nodes.heartbeat(chatty, NodeStatus.HEALTHY)
    listening_since = clock.now()
    clock.advance(31)
    assert services.nodes.sweep_stale(None, 30, 90) == 0  # nobody listening: nothing counts
    late = clock.now() - timedelta(seconds=29)
    assert services.nodes.sweep_stale(late, 30, 90) == 0  # listening for less than 30 s
    services.nodes.heartbeat(chatty, NodeStatus.HEALTHY)
    assert services.nodes.sweep_stale(listening_since, 30, 90) == 1
    assert must_get(services, "nodes", quiet)["status"] == "unhealthy"
    assert must_get(services, "nodes", chatty)["status"] == "healthy"
    clock.advance(60)
    assert services.nodes.sweep_stale(listening_since, 30, 90) == 2  # both silent by now
    assert must_get(services, "nodes", quiet)["status"] == "unreachable"
    assert must_get(services, "nodes", chatty)["status"] == "unhealthy"
    assert services.nodes.sweep_stale(listening_since, 30, 90) == 0


def test_change_cluster_moves_node_and_its_aliases(services: Services) -> None:
    src, dst = cluster(services, "src"), cluster(services, "dst")
    node_id = enrolled(services, "src")
    alias_id = services.aliases.create(node_id, CreateAlias(name="web"))
    services.nodes.change_cluster(node_id, ChangeCluster(cluster_name="dst"))
    assert must_get(services, "nodes", node_id)["cluster_id"] == dst
    assert must_get(services, "aliases", alias_id)["cluster_name"] == "dst"
    assert (node_count(services, src), node_count(services, dst)) == (0, 1)
    # The name is free again in the source cluster and taken in the target.
    other = enrolled(services, "src")
    services.aliases.create(other, CreateAlias(name="web"))
    with pytest.raises(NameTakenError):
        services.aliases.create(enrolled(services, "dst"), CreateAlias(name="web"))


def test_change_cluster_refused_when_alias_name_exists_in_target(services: Services) -> None:
    src, dst = cluster(services, "src"), cluster(services, "dst")
    mover = enrolled(services, "src")
    alias_id = services.aliases.create(mover, CreateAlias(name="web"))
    services.aliases.create(enrolled(services, "dst"), CreateAlias(name="web"))
    with pytest.raises(NameTakenError):
        services.nodes.change_cluster(mover, ChangeCluster(cluster_name="dst"))
    # Nothing moved: the whole command is one transaction.
    assert must_get(services, "nodes", mover)["cluster_id"] == src
    assert must_get(services, "aliases", alias_id)["cluster_name"] == "src"
    assert (node_count(services, src), node_count(services, dst)) == (1, 1)


def test_change_cluster_refusals(services: Services) -> None:
    cluster(services, "src")
    cluster(services, "full", node_limit=1)
    node_id = enrolled(services, "src")
    enrolled(services, "full")
    with pytest.raises(SameClusterError):
        services.nodes.change_cluster(node_id, ChangeCluster(cluster_name="src"))
    with pytest.raises(ClusterFullError):
        services.nodes.change_cluster(node_id, ChangeCluster(cluster_name="full"))
    with pytest.raises(NotFoundError):
        services.nodes.change_cluster(node_id, ChangeCluster(cluster_name="nope"))
    with pytest.raises(NotFoundError):
        services.nodes.change_cluster(uuid4(), ChangeCluster(cluster_name="src"))
    services.clusters.update("full", UpdateCluster(node_limit=2))
    services.nodes.change_cluster(node_id, ChangeCluster(cluster_name="full"))


def test_delete_cascades_aliases_and_frees_the_place(services: Services) -> None:
    cid = cluster(services, "prod")
    node_id = enrolled(services, "prod")
    alias_ids = [services.aliases.create(node_id, CreateAlias(name=n)) for n in ("a", "b")]
    services.nodes.delete(node_id)
    assert services.view.get("nodes", node_id) is None
    assert all(services.view.get("aliases", a) is None for a in alias_ids)
    assert node_count(services, cid) == 0
    services.aliases.create(enrolled(services, "prod"), CreateAlias(name="a"))
    for command in (lambda: services.nodes.delete(node_id),
                    lambda: services.nodes.set_status(node_id, NodeStatus.UNHEALTHY, "x"),
                    lambda: services.nodes.heartbeat(node_id, NodeStatus.HEALTHY)):
        with pytest.raises(NotFoundError):
            command()


def test_a_replay_keeps_the_heartbeats_of_a_node_re_enrolled_after_its_deletion(
    services: Services, clock: FixedClock
) -> None:
    """Heartbeats are no events: a rebuild replays the node's deletion over the liveness row
    its re-enrolled agent has kept fresh since, and must not take it back to the revival."""
    from entrypoints.replay import rebuild

    cluster(services, "prod")
    _, blob = key(services, "prod", uses_remaining=None)
    node_id = uuid4()
    enroll = EnrollNode(enrollment_key=blob, id_type="persistent", node_id=node_id)
    services.nodes.enroll(enroll)
    clock.advance(60)
    services.nodes.heartbeat(node_id, NodeStatus.HEALTHY)
    clock.advance(60)
    services.nodes.delete(node_id)
    clock.advance(60)
    services.nodes.enroll(enroll)
    clock.advance(60)
    services.nodes.heartbeat(node_id, NodeStatus.HEALTHY)
    seen = must_get(services, "nodes", node_id)["last_seen_at"]
    assert seen == clock.now()

    rebuild(services)
    assert must_get(services, "nodes", node_id)["last_seen_at"] == seen

    other = uuid4()  # a node deleted for good leaves no liveness row, replayed or not
    services.nodes.enroll(EnrollNode(enrollment_key=blob, id_type="persistent", node_id=other))
    clock.advance(60)
    services.nodes.heartbeat(other, NodeStatus.HEALTHY)
    services.nodes.delete(other)
    rebuild(services)
    assert services.view.get("node_liveness", other) is None
