"""Node and Alias: registration, re-registration, status, moves, aliases and deletion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.store import EdgeStore
from domain.alias import Alias, AliasGoneError, check_alias_name
from domain.node import IdType, Node, NodeGoneError, SameClusterError
from domain.node_ports import DEFAULT_PORTS
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError, StateConflictError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_node(version: str | None = "1.0.0", ports: dict[str, int] | None = None) -> Node:
    return Node.register(
        uuid4(), uuid4(), "prod", IdType.RANDOM, version, False, ports or {},
        ("token", "password"), uuid4(), AT,
    )


def replayed(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_register_fills_default_ports_and_starts_healthy() -> None:
    node = new_node(ports={"ssh_port": 2222})
    assert node.ports == {**DEFAULT_PORTS, "ssh_port": 2222}
    assert node.status == NodeStatus.HEALTHY.value
    assert node.version == 1, "the aggregate version must stay the event count"
    assert node.agent_version == "1.0.0"


@pytest.mark.parametrize("ports", [{"ftp_port": 21}, {"ssh_port": 0}, {"http_port": 65536}])
def test_register_refuses_unknown_or_out_of_range_ports(ports: dict[str, int]) -> None:
    with pytest.raises(InvalidValueError):
        new_node(ports=ports)


@pytest.mark.parametrize("agent_version", [None, "0.1.0"])
def test_node_accepts_commands_after_registration(agent_version: str | None) -> None:
    # Regression: the agent version used to overwrite the aggregate's integer version.
    node = new_node(version=agent_version)
    assert node.change_status(NodeStatus.UNHEALTHY, "heartbeat", AT)
    node.move_to(uuid4(), "other", AT)
    node.delete(AT)
    assert node.version == 4


def test_reregister_records_version_change_only_when_different() -> None:
    node = new_node(version="1.0.0")
    node.change_status(NodeStatus.UNREACHABLE, "timeout", AT)
    node.collect_events()
    node.reregister("1.0.0", True, {}, None, None, AT)
    names = [type(e).__name__ for e in node.collect_events()]
    assert names == ["Reregistered", "StatusChanged"]
    assert node.api_token == "token" and node.self_update_enabled
    node.reregister("1.1.0", False, {}, "new-token", uuid4(), AT)
    names = [type(e).__name__ for e in node.collect_events()]
    assert names == ["Reregistered", "VersionChanged"]
    assert (node.agent_version, node.api_token) == ("1.1.0", "new-token")


def test_change_status_reports_whether_it_changed() -> None:
    node = new_node()
    assert not node.change_status(NodeStatus.HEALTHY, "heartbeat", AT)
    assert node.change_status(NodeStatus.UNREACHABLE, "timeout", AT)
    assert node.status == "unreachable"


def test_move_to_the_same_cluster_is_a_conflict() -> None:
    node = new_node()
    with pytest.raises(SameClusterError):
        node.move_to(node.cluster_id, "prod", AT)
    target = uuid4()
    node.move_to(target, "edge", AT)
    assert (node.cluster_id, node.cluster_name) == (target, "edge")


def test_aliases_attach_and_detach() -> None:
    node = new_node()
    alias_id = uuid4()
    node.attach_alias(alias_id, "web")
    assert node.alias_ids == {str(alias_id): "web"}
    node.detach_alias(alias_id)
    node.collect_events()
    node.detach_alias(alias_id)  # already gone: no event
    assert node.alias_ids == {} and node.collect_events() == []


def test_deleted_node_refuses_commands() -> None:
    node = new_node()
    node.delete(AT)
    for command in (
        lambda: node.delete(AT),
        lambda: node.change_status(NodeStatus.UNHEALTHY, "x", AT),
        lambda: node.move_to(uuid4(), "x", AT),
        lambda: node.attach_alias(uuid4(), "x"),
        lambda: node.reregister(None, False, {}, None, None, AT),
    ):
        with pytest.raises(NodeGoneError):
            command()


def test_only_a_deleted_node_can_be_revived() -> None:
    node = new_node()
    revive_args: tuple[Any, ...] = (uuid4(), "edge", "3.0.0", False, {}, ("t2", "p2"), uuid4(), AT)
    with pytest.raises(StateConflictError):
        node.revive(*revive_args)
    node.attach_alias(uuid4(), "web")
    node.change_status(NodeStatus.UNREACHABLE, "timeout", AT)
    node.delete(AT)
    node.revive(*revive_args)
    assert not node.deleted and node.alias_ids == {}
    assert (node.cluster_name, node.agent_version, node.status, node.api_token) == (
        "edge", "3.0.0", "healthy", "t2"
    )


STATUSES = st.sampled_from(list(NodeStatus))


@settings(deadline=None, max_examples=50)
@given(st.lists(st.one_of(STATUSES, st.sampled_from(["1.0.0", "2.0.0", None])), max_size=25))
def test_node_replays_to_the_same_state(steps: list[Any]) -> None:
    node = new_node()
    history: list[Any] = list(node.collect_events())
    for step in steps:
        if isinstance(step, NodeStatus):
            node.change_status(step, "test", AT)
        else:
            node.reregister(step, False, {}, None, None, AT)
        history += node.collect_events()
    assert vars(replayed(history)) == vars(node)


def test_node_survives_a_store_round_trip() -> None:
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    node = new_node(version="0.9.0")
    store.save(node)
    loaded: Any = store.repository.get(node.id)
    loaded.change_status(NodeStatus.UNHEALTHY, "heartbeat", AT)
    store.save(loaded)
    again: Any = store.repository.get(node.id)
    assert (again.version, again.agent_version, again.status) == (2, "0.9.0", "unhealthy")


@pytest.mark.parametrize(
    "name", ["", "x" * 64, "Web", "-web", "web-", "web_1", "0f1c2a52-8d0e-4c71-9a0e-2b5d3f7e8a10"]
)
def test_bad_alias_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidValueError):
        check_alias_name(name)
    with pytest.raises(InvalidValueError):
        Alias.create(uuid4(), uuid4(), uuid4(), "prod", name, AT)


def test_alias_moves_and_is_gone_after_delete() -> None:
    alias = Alias.create(uuid4(), uuid4(), uuid4(), "prod", "x" * 63, AT)
    target = uuid4()
    alias.move(target, "edge", AT)
    assert (alias.cluster_id, alias.cluster_name) == (target, "edge")
    alias.delete(AT)
    with pytest.raises(AliasGoneError):
        alias.move(uuid4(), "x", AT)
    with pytest.raises(AliasGoneError):
        alias.delete(AT)
