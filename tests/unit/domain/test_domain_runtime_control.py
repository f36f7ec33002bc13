"""The runtime-control state machine of a Resource (runtime stop / start / restart): unit
cases, and a hypothesis machine checking it against a plain model over random sequences of
requests, agent observations, deployment ends and new deployments, with replay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.resource import Resource, ResourceGoneError
from domain.runtime_control import PHASES, blocked_reason, desired, next_phase

AT = datetime(2026, 1, 1, tzinfo=UTC)


def serving() -> tuple[Resource, UUID]:
    resource = Resource.create(uuid4(), uuid4(), uuid4(), "Web", AT)
    resource.configure_source("busybox:1.36", AT)
    deployment = uuid4()
    resource.begin_deployment(deployment, "create", AT)
    resource.settle_deployment(deployment, "succeeded", AT)
    return resource, deployment


def test_rules() -> None:
    assert next_phase("restart", 0) == "stop" and next_phase("restart", 1) == "start"
    assert next_phase("restart", 2) is None and next_phase("stop", 1) is None
    assert (desired("stop"), desired("start")) == ("stopped", "running")
    everything = dict(archived=True, deploying=True, controlling=True, has_runtime=False)
    assert blocked_reason(**everything) == "resource-archived"
    assert blocked_reason(archived=False, deploying=False, controlling=False,
                          has_runtime=True) is None
    assert blocked_reason(archived=False, deploying=False, controlling=False,
                          has_runtime=False) == "runtime-not-found"


def test_restart_runs_stop_then_start_and_ignores_other_words() -> None:
    resource, deployment = serving()
    attempt = uuid4()
    assert resource.request_runtime_control(attempt, "restart", deployment, AT) is None
    assert resource.runtime_state == "stopping"
    assert not resource.observe_runtime(attempt, "running", AT)  # not what stop wants
    assert not resource.observe_runtime(uuid4(), "stopped", AT)  # another attempt
    assert not resource.observe_runtime(attempt, "gone", AT)
    assert resource.observe_runtime(attempt, "stopped", AT)
    assert (resource.runtime_state, resource.runtime_control["done"]) == (  # type: ignore[index]
        "starting", 1)
    assert resource.observe_runtime(attempt, "running", AT)
    assert (resource.runtime_state, resource.runtime_control) == ("running", None)


def test_blocked_requests_are_recorded_and_change_nothing() -> None:
    resource, deployment = serving()
    assert resource.request_runtime_control(uuid4(), "stop", None, AT) == "runtime-not-found"
    first = uuid4()
    assert resource.request_runtime_control(first, "stop", deployment, AT) is None
    assert resource.request_runtime_control(uuid4(), "start", deployment, AT) == (
        "runtime-control-in-progress")
    assert resource.runtime_control is not None and resource.runtime_control["id"] == first
    kinds = [type(e).__name__ for e in resource.collect_events()]
    assert kinds.count("RuntimeControlRequested") == 3
    with pytest.raises(ValueError):
        resource.request_runtime_control(uuid4(), "pause", deployment, AT)


def test_a_deleted_resource_takes_no_control() -> None:
    resource = Resource.create(uuid4(), uuid4(), uuid4(), "Web", AT)
    resource.delete_confirmed(resource.slug, AT)
    with pytest.raises(ResourceGoneError):
        resource.request_runtime_control(uuid4(), "stop", None, AT)


class RuntimeMachine(RuleBasedStateMachine):
    """The aggregate against a model: (state, pending (id, operation, done, deployment))."""

    def __init__(self) -> None:
        super().__init__()
        self.resource, self.deployment = serving()
        self.state = "running"
        self.pending: dict[str, Any] | None = None
        self.alive = True

    @rule(operation=st.sampled_from(["stop", "start", "restart"]))
    def request(self, operation: str) -> None:
        attempt = uuid4()
        runtime = self.deployment if self.alive else None
        reason = self.resource.request_runtime_control(attempt, operation, runtime, AT)
        expected = ("runtime-control-in-progress" if self.pending is not None
                    else None if self.alive else "runtime-not-found")
        assert reason == expected
        if reason is not None:
            return
        done = 0
        phases = PHASES[operation]
        while done < len(phases) and desired(phases[done]) == self.state:
            done += 1
        if done == len(phases):
            self.state = desired(phases[-1])
            return
        self.pending = {"id": attempt, "operation": operation, "done": done}
        self.state = "stopping" if phases[done] == "stop" else "starting"

    @rule(observed=st.sampled_from(["running", "stopped"]))
    def observe(self, observed: str) -> None:
        attempt = self.pending["id"] if self.pending else uuid4()
        moved = self.resource.observe_runtime(attempt, observed, AT)
        phase = None if self.pending is None else PHASES[self.pending["operation"]][
            self.pending["done"]]
        assert moved == (phase is not None and desired(phase) == observed)
        if not moved or self.pending is None:
            return
        self.pending["done"] += 1
        following = next_phase(self.pending["operation"], self.pending["done"])
        if following is None:
            self.state, self.pending = observed, None
        else:
            self.state = "stopping" if following == "stop" else "starting"

    @rule()
    def deployment_ends(self) -> None:
        failed = self.resource.fail_runtime_control(self.deployment, "runtime-ended", AT)
        assert failed == (self.pending is not None)
        if failed:
            self.state, self.pending = "unknown", None
        self.alive = False

    @rule(known=st.booleans())
    def deadline_passes(self, known: bool) -> None:
        attempt = self.pending["id"] if self.pending and known else uuid4()
        expired = self.resource.expire_runtime_control(attempt, AT)
        assert expired == (self.pending is not None and known)
        if expired:
            self.state, self.pending = "unknown", None

    @rule()
    def new_deployment(self) -> None:
        if self.pending is not None:
            return  # a control in progress is failed by its deployment's end first
        deployment = uuid4()
        self.resource.begin_deployment(deployment, "redeploy", AT)
        self.resource.settle_deployment(deployment, "succeeded", AT)
        self.deployment, self.alive, self.state = deployment, True, "running"

    @invariant()
    def agrees_with_the_model(self) -> None:
        control = self.resource.runtime_control
        assert self.resource.runtime_state == self.state
        assert (control is None) == (self.pending is None)
        if control is not None and self.pending is not None:
            assert (control["id"], control["done"]) == (self.pending["id"],
                                                        self.pending["done"])

    @invariant()
    def replays_to_the_same_state(self) -> None:
        events = list(self.resource.pending_events)
        copy: Any = None
        for e in events:
            copy = e.mutate(copy)
        assert copy.runtime_state == self.resource.runtime_state
        assert copy.runtime_control == self.resource.runtime_control


RuntimeMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                            deadline=None)
TestRuntimeMachine = RuntimeMachine.TestCase
