"""Read model of runtime controls (Appaloft's runtime stop / start / restart of a resource):
one row per attempt, shown by the routes, and one row per deployment whose runtime a control
touched, saying what its container should be (read by the agents' work polls).

Handlers are pure: each event carries what its rows need (the state after it), so no handler
reads a row. An attempt's phases are a column each (`stop_phase`, `start_phase`): pending,
succeeded, failed, or skipped (blocked); a phase its operation does not have stays NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.resource import Resource
from domain.runtime_control import PHASES
from projections.model import Change, Patch, Upsert
from projections.records import Record, table_of


class RuntimeControlRecord(Record, frozen=True, kw_only=True):
    id: UUID
    resource_id: UUID
    deployment_id: UUID | None
    operation: str  # stop | start | restart
    status: str  # accepted | running | succeeded | failed | blocked
    runtime_state: str
    blocked_reason: str | None
    error_code: str | None
    stop_phase: str | None
    start_phase: str | None
    started_at: datetime
    completed_at: datetime | None
    updated_at: datetime


RUNTIME_CONTROLS = table_of(RuntimeControlRecord, "runtime_control_attempts",
                            indexes=("resource_id, started_at",))


class RuntimeRecord(Record, frozen=True, kw_only=True):
    """What a deployment's container should be (`running` | `stopped`) as runtime controls
    decided, and the control waiting for the agent's word (NULL: none)."""

    deployment_id: UUID
    resource_id: UUID
    desired: str
    attempt_id: UUID | None
    updated_at: datetime


RUNTIMES = table_of(RuntimeRecord, "resource_runtimes", key="deployment_id")

RUNTIME_TABLES = (RUNTIME_CONTROLS, RUNTIMES)
RUNTIME_RECORDS = (RuntimeControlRecord, RuntimeRecord)


def _wanted(runtime_state: str) -> str:
    return "stopped" if runtime_state in ("stopped", "stopping") else "running"


def _requested(e: Any) -> list[Change]:
    blocked = e.blocked_reason is not None
    phases = PHASES[e.operation]
    row = {
        "id": e.attempt_id, "resource_id": e.originator_id, "deployment_id": e.deployment_id,
        "operation": e.operation, "status": "blocked" if blocked else "accepted",
        "runtime_state": e.runtime_state, "blocked_reason": e.blocked_reason,
        "error_code": None, "started_at": e.at, "completed_at": e.at if blocked else None,
        "updated_at": e.at,
        **{f"{p}_phase": (("skipped" if blocked else "pending") if p in phases else None)
           for p in ("stop", "start")},
    }
    changes: list[Change] = [Upsert("runtime_control_attempts", row)]
    if not blocked:
        changes.append(Upsert("resource_runtimes", {
            "deployment_id": e.deployment_id, "resource_id": e.originator_id,
            "desired": _wanted(e.runtime_state), "attempt_id": e.attempt_id,
            "updated_at": e.at}))
    return changes


def _phase_completed(e: Any) -> list[Change]:
    fields = {f"{e.phase}_phase": "succeeded", "runtime_state": e.runtime_state,
              "status": "succeeded" if e.completed else "running",
              "completed_at": e.at if e.completed else None, "updated_at": e.at}
    runtime = {"desired": _wanted(e.runtime_state), "updated_at": e.at,
               **({"attempt_id": None} if e.completed else {})}
    return [Patch("runtime_control_attempts", {"id": e.attempt_id}, fields),
            Patch("resource_runtimes", {"attempt_id": e.attempt_id}, runtime)]


def _failed(e: Any) -> list[Change]:
    where = {"id": e.attempt_id}
    return [
        Patch("runtime_control_attempts", where, {
            "status": "failed", "error_code": e.error_code, "runtime_state": "unknown",
            "completed_at": e.at, "updated_at": e.at}),
        *(Patch("runtime_control_attempts", {**where, f"{p}_phase": "pending"},
                {f"{p}_phase": "failed"}) for p in ("stop", "start")),
        Patch("resource_runtimes", {"attempt_id": e.attempt_id},
              {"attempt_id": None, "updated_at": e.at}),
    ]


RUNTIME_HANDLERS: dict[type[Any], Callable[[Any], list[Change]]] = {
    Resource.RuntimeControlRequested: _requested,
    Resource.RuntimeControlPhaseCompleted: _phase_completed,
    Resource.RuntimeControlFailed: _failed,
}
