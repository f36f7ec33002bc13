"""Aliases service: per-cluster unique names, validation, deletion."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from application.agent_protocol import EnrollNode
from application.aliases import CreateAlias
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from application.errors import NotFoundError
from domain.claims import NameTakenError
from domain.shared import InvalidValueError, StateConflictError
from entrypoints.bootstrap import Services


def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


def node_in(services: Services, cluster_name: str) -> UUID:
    if not services.view.select("clusters", {"name": cluster_name}):
        services.clusters.create(CreateCluster(name=cluster_name))
    key_id = services.enrollment_keys.issue(cluster_name, IssueEnrollmentKey())
    blob = must_get(services, "enrollment_keys", key_id)["key"]
    return services.nodes.enroll(EnrollNode(enrollment_key=blob)).node_id


def test_create_is_readable_at_once(memory_services: Services) -> None:
    node_id = node_in(memory_services, "prod")
    alias_id = memory_services.aliases.create(node_id, CreateAlias(name="web-server"))
    row = must_get(memory_services, "aliases", alias_id)
    assert (row["node_id"], row["cluster_name"], row["name"]) == (node_id, "prod", "web-server")
    assert [r["id"] for r in memory_services.view.select("aliases", {"node_id": node_id})] == [
        alias_id
    ]


def test_name_is_unique_per_cluster_not_globally(memory_services: Services) -> None:
    a, b = node_in(memory_services, "prod"), node_in(memory_services, "prod")
    memory_services.aliases.create(a, CreateAlias(name="web"))
    with pytest.raises(NameTakenError) as err:
        memory_services.aliases.create(b, CreateAlias(name="web"))
    assert isinstance(err.value, StateConflictError)
    # Even the same node cannot hold one name twice.
    with pytest.raises(NameTakenError):
        memory_services.aliases.create(a, CreateAlias(name="web"))
    memory_services.aliases.create(node_in(memory_services, "other"), CreateAlias(name="web"))
    assert len(memory_services.view.select("aliases", {"name": "web"})) == 2


@pytest.mark.parametrize(
    "name", ["", "Web", "web_1", "-web", "x" * 64, "0f1c2a52-8d0e-4c71-9a0e-2b5d3f7e8a10"]
)
def test_invalid_names_are_refused(memory_services: Services, name: str) -> None:
    node_id = node_in(memory_services, "prod")
    with pytest.raises(InvalidValueError):
        memory_services.aliases.create(node_id, CreateAlias(name=name))
    assert memory_services.view.select("aliases", {}) == []


def test_create_on_unknown_or_deleted_node_is_not_found(memory_services: Services) -> None:
    with pytest.raises(NotFoundError):
        memory_services.aliases.create(uuid4(), CreateAlias(name="web"))
    node_id = node_in(memory_services, "prod")
    memory_services.nodes.delete(node_id)
    with pytest.raises(NotFoundError):
        memory_services.aliases.create(node_id, CreateAlias(name="web"))


def test_delete_frees_the_name(memory_services: Services) -> None:
    node_id = node_in(memory_services, "prod")
    alias_id = memory_services.aliases.create(node_id, CreateAlias(name="web"))
    memory_services.aliases.delete(alias_id)
    assert memory_services.view.get("aliases", alias_id) is None
    with pytest.raises(NotFoundError):
        memory_services.aliases.delete(alias_id)
    again = memory_services.aliases.create(node_id, CreateAlias(name="web"))
    assert again != alias_id
    # The node forgot the deleted alias, so deleting the node only touches the live one.
    memory_services.nodes.delete(node_id)
    assert memory_services.view.select("aliases", {}) == []


def test_delete_unknown_alias_is_not_found(memory_services: Services) -> None:
    with pytest.raises(NotFoundError):
        memory_services.aliases.delete(uuid4())
