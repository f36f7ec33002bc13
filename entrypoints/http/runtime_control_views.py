"""The runtime-control attempt as Appaloft shows it (2.1.12): answered by the runtime routes
(entrypoints/http/runtime_controls.py) and embedded as `latestRuntimeControl` in the resource
list."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from entrypoints.http.appaloft_views import AppaloftShape
from entrypoints.http.serializers import Moment, described
from projections.runtime_controls import RuntimeControlRecord

_d = described


class RuntimeControlPhase(AppaloftShape):
    """One step of a runtime control"""

    phase: Annotated[Literal["stop", "start"], _d("stop or start")]
    status: Annotated[str, _d("pending, succeeded, failed, or skipped (blocked)")]
    error_code: Annotated[str | None, _d("Why it failed")]


class RuntimeControlAttemptResponse(AppaloftShape):
    """A runtime stop, start or restart of a resource's current deployment"""

    runtime_control_attempt_id: Annotated[UUID, _d("Id of this attempt")]
    resource_id: Annotated[UUID, _d("The resource")]
    deployment_id: Annotated[UUID | None, _d("The deployment whose container it acts on"
                                             " (null when blocked for want of one)")]
    operation: Annotated[Literal["stop", "start", "restart"], _d("What was asked")]
    status: Annotated[str, _d("accepted, running, succeeded, failed, or blocked")]
    started_at: Annotated[Moment, _d("When it was asked")]
    completed_at: Annotated[Moment | None, _d("When it ended (blocked: at once)")]
    runtime_state: Annotated[str, _d(
        "The container as decided: running, stopping, stopped, starting, or unknown (the"
        " deployment ended while it ran)")]
    blocked_reason: Annotated[str | None, _d(
        "resource-archived, deployment-in-progress, runtime-control-in-progress, or"
        " runtime-not-found (no deployment of it is ready)")]
    error_code: Annotated[str | None, _d(
        "Why it failed: runtime-ended (the deployment ended while it ran) or"
        " runtime-control-timeout (no agent carried it out within the start deadline)")]
    phases: Annotated[list[RuntimeControlPhase], _d("Its steps in order")]


SHAPES = (RuntimeControlAttemptResponse, RuntimeControlPhase)


def shape(record: RuntimeControlRecord) -> RuntimeControlAttemptResponse:
    steps: tuple[tuple[Literal["stop", "start"], str | None], ...] = (
        ("stop", record.stop_phase), ("start", record.start_phase))
    phases = [RuntimeControlPhase(phase=p, status=status,
                                  error_code=record.error_code if status == "failed" else None)
              for p, status in steps if status is not None]
    return RuntimeControlAttemptResponse(
        runtime_control_attempt_id=record.id, resource_id=record.resource_id,
        deployment_id=record.deployment_id, operation=record.operation,  # type: ignore[arg-type]
        status=record.status, started_at=record.started_at, completed_at=record.completed_at,
        runtime_state=record.runtime_state, blocked_reason=record.blocked_reason,
        error_code=record.error_code, phases=phases)
