"""Clusters service: create/update/delete against the real write path and read model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster, UpdateCluster
from application.enrollment_keys import IssueEnrollmentKey
from application.errors import NotFoundError
from domain.claims import NameTakenError, RangeOverlapError
from domain.cluster import ClusterNotEmptyError
from domain.shared import InvalidValueError, StateConflictError
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings


def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


def enroll_one(services: Services, cluster: str) -> None:
    key_id = services.enrollment_keys.issue(cluster, IssueEnrollmentKey())
    blob = must_get(services, "enrollment_keys", key_id)["key"]
    services.nodes.enroll(EnrollNode(enrollment_key=blob))


def test_create_is_readable_at_once_with_an_auto_range(memory_services: Services) -> None:
    first = memory_services.clusters.create(CreateCluster(name="prod-east", node_limit=50))
    second = memory_services.clusters.create(CreateCluster(name="prod-west"))
    row = must_get(memory_services, "clusters", first)
    assert (row["name"], row["ipv4_range"], row["node_limit"], row["node_count"]) == (
        "prod-east", "100.64.0.0/24", 50, 0
    )
    assert must_get(memory_services, "clusters", second)["ipv4_range"] == "100.64.1.0/24"


def test_requested_range_is_kept_and_overlaps_are_refused(memory_services: Services) -> None:
    cid = memory_services.clusters.create(CreateCluster(name="a", ipv4_range="10.8.0.0/16"))
    assert must_get(memory_services, "clusters", cid)["ipv4_range"] == "10.8.0.0/16"
    with pytest.raises(RangeOverlapError) as err:
        memory_services.clusters.create(CreateCluster(name="b", ipv4_range="10.8.4.0/24"))
    assert isinstance(err.value, StateConflictError) and err.value.field == "ipv4_range"
    # The refused command saved nothing, so its name is still free.
    memory_services.clusters.create(CreateCluster(name="b"))


def test_auto_range_skips_a_requested_range(memory_services: Services) -> None:
    memory_services.clusters.create(CreateCluster(name="a", ipv4_range="100.64.0.0/24"))
    cid = memory_services.clusters.create(CreateCluster(name="b"))
    assert must_get(memory_services, "clusters", cid)["ipv4_range"] == "100.64.1.0/24"


def test_duplicate_name_is_refused(memory_services: Services) -> None:
    memory_services.clusters.create(CreateCluster(name="prod"))
    with pytest.raises(NameTakenError) as err:
        memory_services.clusters.create(CreateCluster(name="prod"))
    assert isinstance(err.value, StateConflictError)
    assert len(memory_services.view.select("clusters", {"name": "prod"})) == 1


@pytest.mark.parametrize(
    "cmd",
    [
        CreateCluster(name="default"),
        CreateCluster(name="Prod"),
        CreateCluster(name="x" * 25),
        CreateCluster(name=""),
        CreateCluster(name="a", node_limit=0),
        CreateCluster(name="a", ipv4_range="10.0.0.1/24"),
        CreateCluster(name="a", ipv4_range="10.0.0.0/31"),
    ],
)
def test_invalid_input_is_refused(memory_services: Services, cmd: CreateCluster) -> None:
    # Structs built in code skip msgspec validation, so the service must check again.
    with pytest.raises(InvalidValueError):
        memory_services.clusters.create(cmd)
    assert memory_services.view.select("clusters", {}) == []


def test_update_node_limit_only_when_sent(memory_services: Services) -> None:
    cid = memory_services.clusters.create(CreateCluster(name="prod", node_limit=5))
    assert memory_services.clusters.update("prod", UpdateCluster()) == cid
    assert must_get(memory_services, "clusters", cid)["node_limit"] == 5
    memory_services.clusters.update("prod", UpdateCluster(node_limit=7))
    assert must_get(memory_services, "clusters", cid)["node_limit"] == 7
    memory_services.clusters.update("prod", UpdateCluster(node_limit=None))
    assert must_get(memory_services, "clusters", cid)["node_limit"] is None


def test_update_refuses_limit_below_members_and_bad_values(memory_services: Services) -> None:
    memory_services.clusters.create(CreateCluster(name="prod"))
    enroll_one(memory_services, "prod")
    enroll_one(memory_services, "prod")
    with pytest.raises(InvalidValueError):
        memory_services.clusters.update("prod", UpdateCluster(node_limit=1))
    with pytest.raises(InvalidValueError):
        memory_services.clusters.update("prod", UpdateCluster(node_limit=0))
    memory_services.clusters.update("prod", UpdateCluster(node_limit=2))


def test_update_and_delete_of_unknown_cluster_are_not_found(memory_services: Services) -> None:
    with pytest.raises(NotFoundError):
        memory_services.clusters.update("nope", UpdateCluster(node_limit=3))
    with pytest.raises(NotFoundError):
        memory_services.clusters.delete("nope")


def test_delete_refused_while_nodes_remain_then_allowed(memory_services: Services) -> None:
    cid = memory_services.clusters.create(CreateCluster(name="prod"))
    enroll_one(memory_services, "prod")
    with pytest.raises(ClusterNotEmptyError):
        memory_services.clusters.delete("prod")
    (node,) = memory_services.view.select("nodes", {"cluster_id": cid})
    memory_services.nodes.delete(node["id"])
    memory_services.clusters.delete("prod")
    assert memory_services.view.get("clusters", cid) is None
    with pytest.raises(NotFoundError):
        memory_services.clusters.delete("prod")
    with pytest.raises(NotFoundError):
        memory_services.clusters.update("prod", UpdateCluster(node_limit=2))


def test_deleted_name_and_range_can_be_reused(memory_services: Services) -> None:
    old = memory_services.clusters.create(CreateCluster(name="prod", ipv4_range="10.1.0.0/16"))
    memory_services.clusters.delete("prod")
    new = memory_services.clusters.create(CreateCluster(name="prod", ipv4_range="10.1.0.0/16"))
    assert new != old
    row = must_get(memory_services, "clusters", new)
    assert (row["name"], row["node_count"]) == ("prod", 0)
    memory_services.clusters.update("prod", UpdateCluster(node_limit=4))
    assert must_get(memory_services, "clusters", new)["node_limit"] == 4


@pytest.fixture
def default_services() -> Iterator[Services]:
    services = build_services(make_settings("memory://", default_cluster_name="edge"))
    services.start()
    yield services
    services.close()


def test_start_ensures_the_default_cluster_once(default_services: Services) -> None:
    default_services.clusters.ensure("edge")
    rows = default_services.view.select("clusters", {"name": "edge"})
    assert len(rows) == 1


def shut(services: Services) -> None:
    services.close()
    # Services.close() leaves the SQL view's own connection pool open; close it so the
    # psycopg ResourceWarning (an error under filterwarnings) does not fire at GC.
    datastore = getattr(services.view, "datastore", None)
    if datastore is not None:
        datastore.close()


def test_lifecycle_on_every_store(any_url: str) -> None:
    services = build_services(make_settings(any_url))
    services.start()
    try:
        name = "c" + uuid4().hex[:12]
        cid = services.clusters.create(CreateCluster(name=name, node_limit=2))
        services.clusters.update(name, UpdateCluster(node_limit=3))
        assert must_get(services, "clusters", cid)["node_limit"] == 3
        with pytest.raises(NameTakenError):
            services.clusters.create(CreateCluster(name=name))
        services.clusters.delete(name)
        assert services.view.get("clusters", cid) is None
        assert services.clusters.create(CreateCluster(name=name)) != cid
    finally:
        shut(services)
