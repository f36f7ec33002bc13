"""The deployment state machine under any sequence of reports and stops: Edgegap's statuses,
deferred stops carried out on READY or ERROR, TERMINATED final, ERROR never brought back by a
late report, and replay giving the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.deployment import AlreadyTerminatedError, Deployment, Status

AT = datetime(2026, 1, 1, tzinfo=UTC)
ACTIONS = st.lists(st.sampled_from(
    ["place", "fail_placement", "ready", "fail", "terminated", "stop", "give_up",
     "late_terminated", "node_deleted"]), max_size=12)


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
    elif action == "late_terminated":  # the node removed a container nobody asked it to stop
        if d.node_id is not None and d.stopping is None:
            d.terminated(0, AT)
    elif action == "node_deleted":
        if d.node_id is not None:
            d.node_deleted(AT)
    elif action == "give_up":
        d.give_up_start("not started within 600 s", AT)
    elif action == "stop":
        try:
            d.stop("stop requested", AT)
        except AlreadyTerminatedError:
            assert d.status == Status.TERMINATED.value


@given(ACTIONS)
def test_any_sequence_keeps_the_invariants(actions: list[str]) -> None:
    d = new()
    events = list(d.collect_events())
    was_terminated = was_over = False
    for action in actions:
        act(d, action)
        events += d.collect_events()
        status = Status(d.status)
        assert not was_terminated or status is Status.TERMINATED
        assert not was_over or status in (Status.ERROR, Status.TERMINATED)
        was_terminated = status is Status.TERMINATED
        was_over = status in (Status.ERROR, Status.TERMINATED)
        if d.stop_pending is not None:
            assert status in (Status.SEEKING, Status.DEPLOYING)
        if d.stopping is not None:  # only a running container is waited for
            assert status is Status.READY and d.node_id is not None
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


def test_a_start_given_up_stays_an_error_whatever_the_node_says_later() -> None:
    d = new()
    d.place(uuid4(), {}, AT)
    deadline = timedelta(seconds=600)
    assert not d.start_overdue(deadline, AT + deadline - timedelta(microseconds=1))
    assert d.start_overdue(deadline, AT + deadline)
    assert d.give_up_start("not started within 600 s", AT + deadline)
    assert (d.status, d.error_detail) == (Status.ERROR.value, "not started within 600 s")
    assert not d.start_overdue(deadline, AT + deadline)
    assert not d.give_up_start("again", AT + deadline)  # idempotent
    assert not d.ready({}, "127.0.0.1", AT + deadline)  # a late start does not resurrect it
    assert not d.terminated(143, AT + deadline)  # nor does the node removing that container
    assert d.status == Status.ERROR.value
    assert d.stop("stop requested", AT + deadline) is True  # nothing runs: it ends now
    assert d.status == Status.TERMINATED.value and d.stopping is None


def test_only_a_deploying_start_can_be_given_up() -> None:
    ready = new()
    ready.place(uuid4(), {}, AT)
    ready.ready({}, "127.0.0.1", AT)
    assert not ready.give_up_start("late", AT) and ready.status == Status.READY.value
    seeking = new()
    assert not seeking.give_up_start("late", AT) and seeking.status == Status.SEEKING.value


def test_a_stop_deferred_then_a_start_given_up_ends_terminated() -> None:
    d = new()
    d.place(uuid4(), {}, AT)
    assert d.stop("stop requested", AT) is False
    assert d.give_up_start("not started", AT)
    assert (d.status, d.last_status) == (Status.TERMINATED.value, Status.ERROR.value)


def test_a_stop_after_a_crash_ends_it_at_once() -> None:
    """The agent reports a crash and removes the container: no node will confirm a stop."""
    d = new()
    d.place(uuid4(), {}, AT)
    d.ready({}, "127.0.0.1", AT)
    assert d.fail("container exited with code 3", 3, AT)
    assert d.stop("stop requested", AT) is True
    assert d.status == Status.TERMINATED.value and d.stopping is None


def test_a_deleted_node_ends_what_it_held() -> None:
    running = new()
    act(running, "place")
    act(running, "ready")
    assert running.node_deleted(AT) and running.status == Status.ERROR.value
    assert running.error_detail == f"node {running.node_id} was deleted"
    assert not running.node_deleted(AT)  # over already
    stopping = new()
    for action in ("place", "ready", "stop"):
        act(stopping, action)
    assert stopping.node_deleted(AT) and stopping.status == Status.TERMINATED.value
    deferred = new()
    for action in ("place", "stop"):  # a stop before READY waits for it
        act(deferred, action)
    assert deferred.node_deleted(AT) and deferred.status == Status.TERMINATED.value


def _failed(d: Deployment) -> Deployment.Failed:
    (failed,) = [e for e in d.collect_events() if isinstance(e, Deployment.Failed)]
    return failed


def test_a_failure_says_whether_its_node_reported_it_or_the_admin_decided_it() -> None:
    reported = new()
    reported.place(uuid4(), {}, AT)
    reported.fail("health check failed: 503", None, AT)
    no_room = new()
    no_room.fail_placement("Couldn't Allocate Server", AT)
    late = new()
    late.place(uuid4(), {}, AT)
    late.give_up_start("not started within 600 s on node x", AT)
    orphan = new()
    orphan.place(uuid4(), {}, AT)
    orphan.ready({}, "127.0.0.1", AT)
    orphan.node_deleted(AT)
    assert [_failed(d).reported for d in (reported, no_room, late, orphan)] == [
        True, False, False, False]
