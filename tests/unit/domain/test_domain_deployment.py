"""The deployment state machine under any sequence of reports and stops: Edgegap's statuses,
deferred stops carried out on READY or ERROR, TERMINATED final, and replay giving the same."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.deployment import AlreadyTerminatedError, Deployment, Status

AT = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = st.lists(st.sampled_from(
    ["place", "fail_placement", "ready", "fail", "terminated", "stop"]), max_size=12)


def new() -> Deployment:
    return Deployment.request("a69f8e3e0555", {"app": "game", "version": "1"}, AT)


def act(d: Deployment, action: str) -> None:
    if action == "place":
        if d.status == Status.SEEKING.value and d.node_id is None:
            d.place(uuid4(), {"city": "Montreal"}, AT)
    elif action == "fail_placement":
        if d.status == Status.SEEKING.value:
            d.fail_placement("Couldn't Allocate Server", AT)
    elif action == "ready":
        d.ready({"game": {"external": 31000}}, "127.0.0.1", AT)
    elif action == "fail":
        if d.node_id is not None:
            d.fail("crashed", 1, AT)
    elif action == "terminated":
        if d.stopping is not None:
            d.terminated(0, AT)
    elif action == "stop":
        try:
            d.stop("stop requested", AT)
        except AlreadyTerminatedError:
            assert d.status == Status.TERMINATED.value


@given(ACTIONS)
def test_any_sequence_keeps_the_invariants(actions: list[str]) -> None:
    d = new()
    events = list(d.collect_events())
    was_terminated = False
    for action in actions:
        act(d, action)
        events += d.collect_events()
        status = Status(d.status)
        assert not was_terminated or status is Status.TERMINATED
        was_terminated = status is Status.TERMINATED
        if d.stop_pending is not None:
            assert status in (Status.SEEKING, Status.DEPLOYING)
        if d.stopping is not None:
            assert status in (Status.READY, Status.ERROR) and d.node_id is not None
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.__dict__ == d.__dict__


def test_a_stop_before_ready_waits_for_ready_then_stops() -> None:
    d = new()
    d.place(uuid4(), {}, AT)
    assert d.stop("stop requested", AT) is False  # 202
    assert d.status == Status.DEPLOYING.value and d.stop_pending == "stop requested"
    assert d.ready({}, "127.0.0.1", AT)
    assert d.status == Status.READY.value and d.stopping == "stop requested"
    d.terminated(143, AT)
    assert (d.status, d.last_status) == (Status.TERMINATED.value, Status.READY.value)
    with pytest.raises(AlreadyTerminatedError):
        d.stop("again", AT)


def test_a_placement_failure_is_an_error_that_a_stop_ends_at_once() -> None:
    d = new()
    d.fail_placement("Couldn't Allocate Server", AT)
    assert d.status == Status.ERROR.value and d.error_detail == "Couldn't Allocate Server"
    assert d.stop("stop requested", AT) is True
    assert d.status == Status.TERMINATED.value


def test_a_crash_while_stopping_is_the_end_that_was_asked_for() -> None:
    d = new()
    d.place(uuid4(), {}, AT)
    d.ready({}, "127.0.0.1", AT)
    d.stop("self-stop", AT)
    assert d.fail("exited", 137, AT)
    assert d.status == Status.TERMINATED.value
