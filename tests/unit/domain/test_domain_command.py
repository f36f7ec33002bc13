"""Command: creation rules (E30), execution ids and deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.command import Command, execution_id
from domain.shared import InvalidValueError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def issue(**overrides: Any) -> Command:
    args: dict[str, Any] = {
        "command_id": uuid4(), "command_text": "echo hi\nls", "targeting": {"type": "all"},
        "timeout": None, "expired_at": None, "node_ids": [uuid4(), uuid4()], "now": NOW,
    }
    return Command.issue(**{**args, **overrides})


def refusal(**overrides: Any) -> tuple[str, str | None]:
    with pytest.raises(InvalidValueError) as refused:
        issue(**overrides)
    return refused.value.message, refused.value.field


def test_issue_keeps_the_order_as_given() -> None:
    nodes = [uuid4(), uuid4()]
    deadline = NOW + timedelta(minutes=5)
    command = issue(node_ids=nodes, timeout=30_000, expired_at=deadline)
    assert (command.command_text, command.targeting, command.timeout, command.expired_at) == (
        "echo hi\nls", {"type": "all"}, 30_000, deadline)
    assert command.node_ids == nodes and command.node_ids is not nodes
    assert not command.deleted and command.version == 1
    events: list[Any] = list(command.collect_events())
    [created] = events
    assert (type(created).__name__, created.at) == ("Created", NOW)


def test_blank_command_text_is_refused() -> None:
    assert refusal(command_text="") == ("can't be blank", "command_text")


@pytest.mark.parametrize("timeout", [0, -1, -30_000])
def test_timeout_must_be_positive(timeout: int) -> None:
    # The seed's own example message: "timeout": ["must be greater than 0"].
    assert refusal(timeout=timeout) == ("must be greater than 0", "timeout")


@pytest.mark.parametrize("timeout", [None, 1, 30_000])
def test_no_timeout_or_a_positive_one_is_accepted(timeout: int | None) -> None:
    assert issue(timeout=timeout).timeout == timeout


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(microseconds=-1), timedelta(days=-1)])
def test_expired_at_must_be_in_the_future(offset: timedelta) -> None:
    assert refusal(expired_at=NOW + offset) == ("must be in the future", "expired_at")
    assert issue(expired_at=NOW + timedelta(microseconds=1)).expired_at is not None


def test_check_runs_the_same_rules_without_creating_anything() -> None:
    Command.check("x", 1, None, NOW)
    with pytest.raises(InvalidValueError):
        Command.check("x", 0, None, NOW)


def test_a_command_with_no_target_is_still_a_command() -> None:
    # Unknown node ids or empty clusters are not an error (spec E30 [gap]).
    command = issue(node_ids=[])
    assert command.execution_ids() == []


@given(st.uuids(), st.lists(st.uuids(), unique=True, max_size=20))
def test_execution_ids_are_one_per_node_and_deterministic(command: Any, nodes: list[Any]) -> None:
    ids = issue(command_id=command, node_ids=nodes).execution_ids()
    assert ids == [execution_id(command, n) for n in nodes]
    assert len(set(ids)) == len(nodes)
    assert all(execution_id(uuid4(), n) not in ids for n in nodes[:3])


def test_delete_marks_it_deleted_and_replays() -> None:
    command = issue()
    command.delete(NOW)
    assert command.deleted
    events = command.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Deleted"]
    replayed: Any = None
    for event in events:
        replayed = event.mutate(replayed)
    assert vars(replayed) == vars(command)
