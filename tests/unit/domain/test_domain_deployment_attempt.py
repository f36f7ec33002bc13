"""The attempt status of a Deployment: a property test drives real Deployment aggregates through
random lifecycles (what the admin and the agent can do, in any order) and checks the derived
status against the rules: terminal is final, a cancel asked before the end wins, only READY is
healthy, and a rollback that becomes healthy is `rolled-back`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.deployment import AlreadyTerminatedError, Deployment, Status
from domain.deployment_attempt import (
    ACTIVE,
    HEALTHY,
    TERMINAL,
    AttemptNotActiveError,
    AttemptNotRetryableError,
    AttemptStatus,
    NotRollbackCandidateError,
    advance,
    attempt_of,
    attempt_status,
    check_cancelable,
    check_retryable,
    check_rollback_candidate,
    is_rollback,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)
OPS = ("place", "fail_placement", "ready", "fail", "terminated", "stop", "give_up")


def apply(deployment: Deployment, op: str) -> None:
    """One thing the admin or the agent does; fail_placement only while seeking, as the
    placement decision does."""
    if op == "place" and deployment.status == Status.SEEKING.value:
        deployment.place(uuid4(), {}, AT)
    elif op == "fail_placement" and deployment.status == Status.SEEKING.value:
        deployment.fail_placement("Couldn't Allocate Server", AT)
    elif op == "ready":
        deployment.ready({}, "", AT)
    elif op == "fail":
        deployment.fail("health check failed", 1, AT)
    elif op == "terminated":
        deployment.terminated(0, AT)
    elif op == "stop":
        try:
            deployment.stop("cancel", AT)
        except AlreadyTerminatedError:
            pass
    elif op == "give_up":
        deployment.give_up_start("not started", AT)


@settings(max_examples=800, deadline=None)  # the first example pays for imports
@example(ops=["place", "ready", "fail", "stop"], rollback=False)  # crashed once healthy
@example(ops=["place", "terminated"], rollback=True)  # exited on its own before healthy
@example(ops=["stop", "place", "ready", "fail"], rollback=False)  # canceled, then it all came
@given(ops=st.lists(st.sampled_from(OPS), max_size=16), rollback=st.booleans())
def test_the_attempt_status_follows_the_rules(ops: list[str], rollback: bool) -> None:
    deployment = Deployment.request("0123456789ab", {"trigger": "rollback" if rollback else
                                                     "create"}, AT)
    assert is_rollback(deployment.spec) is rollback
    events: list[Any] = list(deployment.collect_events())
    assert attempt_status(events, rollback) == AttemptStatus.CREATED
    status = attempt_status(events, rollback)
    cancel_asked_while_active = False
    for op in ops:
        before = status
        if op == "stop" and status in ACTIVE:
            cancel_asked_while_active = True
        apply(deployment, op)
        new_events = deployment.collect_events()
        events += new_events
        status = attempt_status(events, rollback)
        # The fold and the step agree.
        stepped = before
        for e in new_events:
            stepped = advance(stepped, type(e).__name__, rollback)
        assert stepped == status
        assert attempt_of(deployment) == status, "the state says what the events say"
        if before in TERMINAL:
            assert status == before, "a terminal status never changes"
        if status in (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED):
            assert not cancel_asked_while_active, "a cancel asked before the end wins"
        assert status != (AttemptStatus.SUCCEEDED if rollback else AttemptStatus.ROLLED_BACK)
        if deployment.status in (Status.SEEKING.value, Status.DEPLOYING.value):
            assert status in ACTIVE or status == AttemptStatus.CANCEL_REQUESTED
        elif deployment.status in (Status.ERROR.value, Status.TERMINATED.value):
            assert status in TERMINAL
        else:  # READY: healthy, or the cancel is being carried out
            assert status in HEALTHY or status == AttemptStatus.CANCEL_REQUESTED
        if status in HEALTHY:
            assert Status.READY.value in (deployment.status, deployment.last_status) or (
                deployment.status == Status.TERMINATED.value)


def test_a_healthy_attempt_later_stopped_stays_succeeded() -> None:
    deployment = Deployment.request("0123456789ab", {}, AT)
    deployment.place(uuid4(), {}, AT)
    deployment.ready({}, "", AT)
    deployment.stop("superseded by a redeploy", AT)
    deployment.terminated(0, AT)
    names = [type(e).__name__ for e in deployment.collect_events()]
    assert names == ["Requested", "Placed", "Ready", "StopRequested", "Terminated"]
    status = AttemptStatus.CREATED
    seen = []
    for name in names:
        status = advance(status, name, rollback=False)
        seen.append(status.value)
    assert seen == ["created", "running", "succeeded", "succeeded", "succeeded"]


def test_cancel_retry_and_rollback_rules() -> None:
    assert check_cancelable(AttemptStatus.RUNNING) is True
    assert check_cancelable(AttemptStatus.CANCEL_REQUESTED) is False
    for status in TERMINAL:
        with pytest.raises(AttemptNotActiveError):
            check_cancelable(status)
    check_retryable(AttemptStatus.FAILED)
    check_retryable(AttemptStatus.CANCELED)
    for status in set(AttemptStatus) - {AttemptStatus.FAILED, AttemptStatus.CANCELED}:
        with pytest.raises(AttemptNotRetryableError):
            check_retryable(status)
    check_rollback_candidate(AttemptStatus.SUCCEEDED)
    check_rollback_candidate(AttemptStatus.ROLLED_BACK)
    with pytest.raises(NotRollbackCandidateError) as err:
        check_rollback_candidate(AttemptStatus.FAILED)
    assert err.value.field == "rollbackCandidateDeploymentId"


def test_every_status_of_the_seed_is_named_once() -> None:
    assert [s.value for s in AttemptStatus] == [
        "created", "planning", "planned", "running", "cancel-requested", "succeeded", "failed",
        "canceled", "rolled-back"]
    assert ACTIVE | TERMINAL | {AttemptStatus.CANCEL_REQUESTED} == set(AttemptStatus)
    assert not ACTIVE & TERMINAL
