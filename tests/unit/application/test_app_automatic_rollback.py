"""Automatic rollback on the in-memory store: a resource that asks for it has a failed attempt
rolled back to its last healthy one in the transaction of the report that failed it (or of
the start deadline); never after a failed rollback, never without a healthy attempt or the
setting, and a locked environment refuses it with the reason recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from application.environments import LockEnvironment
from application.hosts import UpdateHost
from application.resources import ConfigureRollbackPolicy
from domain.deployment_attempt import AttemptStatus
from domain.resource_snapshot import ResourceSnapshot
from entrypoints.bootstrap import Services
from tests.unit.application.test_app_deployment_attempts import Flow, services

__all__ = ["services"]  # the fixture, shared with the attempts' tests


def automatic(flow: Flow, on: bool = True) -> None:
    flow.resources.configure_rollback(flow.resource, msgspec.convert(
        {"rollbackPolicy": {"automatic": on}}, ConfigureRollbackPolicy))


def decisions(flow: Flow) -> list[Any]:
    events = flow.services.store.repository.event_store.get(flow.resource)
    return [e for e in events
            if type(e).__qualname__ == "Resource.AutomaticRollbackDecided"]


def served_then_failed(flow: Flow) -> tuple[UUID, UUID, UUID]:
    node = flow.node()
    first = flow.create()
    flow.report(node, first, "ready")
    flow.configure("busybox:broken")
    second = flow.create()
    flow.report(node, second, "error")
    return node, first, second


def test_a_failed_attempt_is_rolled_back_to_the_last_healthy_one(services: Services) -> None:
    flow = Flow(services)
    automatic(flow)
    row = services.resource_reads.resources.get(flow.resource)
    assert row is not None and row.automatic_rollback is True
    node, first, second = served_then_failed(flow)
    assert flow.status(second) == AttemptStatus.FAILED
    back = flow.resource_state().active_deployment
    assert back is not None and back not in (first, second)
    [decided] = decisions(flow)
    assert (decided.failed_deployment_id, decided.candidate_deployment_id,
            decided.deployment_id, decided.refused) == (second, first, back, None)
    spec = flow.load(back).spec
    assert ResourceSnapshot.from_spec(spec) == ResourceSnapshot.from_spec(flow.load(first).spec)
    assert (spec["image"], spec["trigger"], spec["source_deployment_id"],
            spec["rollback_candidate_deployment_id"], spec["automatic"]) == (
        "busybox:1.36", "rollback", str(second), str(first), True)
    assert flow.load(back).node_id == node, "placed in the same transaction"
    taken = spec["resource"]["created_at"]
    assert taken == flow.load(first).spec["resource"]["created_at"] != flow.load(
        second).spec["resource"]["created_at"], "the snapshot keeps when it was taken"
    flow.report(node, back, "ready")
    assert flow.status(back) == AttemptStatus.ROLLED_BACK
    assert flow.resource_state().serving_deployment == back
    attempt = services.resource_reads.attempts.get(back)
    assert attempt is not None and (attempt.trigger_kind, attempt.rollback_candidate_id) == (
        "rollback", first)


def test_a_rollback_that_fails_too_is_not_rolled_back(services: Services) -> None:
    flow = Flow(services)
    automatic(flow)
    node, _, _ = served_then_failed(flow)
    back = flow.resource_state().active_deployment
    assert back is not None
    flow.report(node, back, "error")
    assert flow.status(back) == AttemptStatus.FAILED
    resource = flow.resource_state()
    assert (resource.active_deployment, resource.deployment_count) == (None, 3)
    assert len(decisions(flow)) == 1


def test_no_rollback_without_the_setting_or_a_healthy_attempt(services: Services) -> None:
    flow = Flow(services)
    node = flow.node()
    automatic(flow)
    failed = flow.create()
    flow.report(node, failed, "error")  # nothing healthy to go back to
    assert flow.resource_state().active_deployment is None
    automatic(flow, False)
    first = flow.create()
    flow.report(node, first, "ready")
    second = flow.create()
    flow.report(node, second, "error")
    resource = flow.resource_state()
    assert (resource.active_deployment, resource.deployment_count, decisions(flow)) == (
        None, 3, [])


def test_a_locked_environment_refuses_the_rollback_and_says_why(services: Services) -> None:
    flow = Flow(services)
    automatic(flow)
    node = flow.node()
    first = flow.create()
    flow.report(node, first, "ready")
    second = flow.create()
    flow.environments.lock(flow.environment, LockEnvironment())
    flow.report(node, second, "error")
    [decided] = decisions(flow)
    assert (decided.deployment_id, decided.candidate_deployment_id) == (None, first)
    assert "locked" in decided.refused
    assert flow.resource_state().active_deployment is None


def test_a_start_that_never_came_is_rolled_back_too(services: Services) -> None:
    flow = Flow(services)
    automatic(flow)
    node = flow.node()
    first = flow.create()
    flow.report(node, first, "ready")
    second = flow.create()
    assert services.deployments.expire_unstarted(0, datetime(2000, 1, 1, tzinfo=UTC)) == 1
    assert flow.status(second) == AttemptStatus.FAILED
    [decided] = decisions(flow)
    assert decided.failed_deployment_id == second
    assert flow.resource_state().active_deployment == decided.deployment_id


def test_the_rollback_takes_the_room_its_failed_attempt_gave_back(services: Services) -> None:
    """A node with room for two attempts: the one serving and the one that failed, whose room
    is given back in the very transaction that places the rollback (no snapshot shows it)."""
    flow = Flow(services)
    automatic(flow)
    node, _, _ = served_then_failed_on(flow, memory_mb=512)
    back = flow.resource_state().active_deployment
    assert back is not None
    assert flow.load(back).node_id == node, flow.load(back).status
    assert flow.status(back) == AttemptStatus.RUNNING


def served_then_failed_on(flow: Flow, memory_mb: int) -> tuple[UUID, UUID, UUID]:
    node = flow.node()
    flow.services.hosts.update(node, msgspec.convert(
        {"cpu_units": 4096, "memory_mb": memory_mb}, UpdateHost))
    first = flow.create()
    flow.report(node, first, "ready")
    second = flow.create()
    flow.report(node, second, "error")
    return node, first, second
