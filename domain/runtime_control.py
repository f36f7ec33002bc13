"""Runtime control of a resource (Appaloft's runtime stop / start / restart): acting on the
container of its current deployment without a new deployment attempt.

A runtime-control attempt is a short list of phases carried out by the node's agent: `stop`
(the container is stopped and kept), `start` (the same container starts again, health-checked
as its snapshot says), `restart` (stop, then start). The Resource records each attempt's
decision and outcome as events; this module holds the pure rules they follow, so the aggregate,
the read side and a property test ask the same functions.

- A request is either blocked at once (`blocked`, with a reason code and no phase run) or
  `accepted`; the first observation moves it to `running` only implicitly: the read side shows
  `accepted` until a phase completes (`running`), then `succeeded` after the last one.
- The desired state of the runtime follows the phase in progress: a stop phase wants the
  container stopped, a start phase wants it running. After the attempt it stays as the last
  phase left it: a stopped runtime stays stopped (the agent's own reconciliation never starts
  it again) until a start or restart, or a new deployment replaces it.
- The deployment ending (crash, stop, superseded) while an attempt runs fails the attempt
  (`runtime-ended`); a second control while one runs is blocked.
"""

from __future__ import annotations

from typing import Literal

Operation = Literal["stop", "start", "restart"]
RuntimeState = Literal["running", "stopping", "stopped", "starting", "unknown"]
OPERATIONS: tuple[Operation, ...] = ("stop", "start", "restart")
PHASES: dict[str, tuple[str, ...]] = {
    "stop": ("stop",), "start": ("start",), "restart": ("stop", "start")}
# Appaloft-style reason codes a request is blocked with, in the order they are checked.
BLOCKED_REASONS = ("resource-archived", "deployment-in-progress",
                   "runtime-control-in-progress", "runtime-not-found")
STATUSES = ("accepted", "running", "succeeded", "failed", "blocked")
TERMINAL_STATUSES = ("succeeded", "failed", "blocked")


def check_operation(operation: str) -> str:
    if operation not in OPERATIONS:
        raise ValueError(f"not a runtime operation: {operation}")
    return operation


def desired(phase: str) -> Literal["running", "stopped"]:
    """What the container should be while `phase` runs and after it completed."""
    return "stopped" if phase == "stop" else "running"


def transitional(phase: str) -> RuntimeState:
    return "stopping" if phase == "stop" else "starting"


def next_phase(operation: str, done: int) -> str | None:
    """The phase after `done` completed ones, or None when the attempt is complete."""
    phases = PHASES[operation]
    return phases[done] if done < len(phases) else None


def phase_done(phase: str, observed: str) -> bool:
    """Whether the agent's word on the container completes this phase."""
    return desired(phase) == observed


def blocked_reason(*, archived: bool, deploying: bool, controlling: bool,
                   has_runtime: bool) -> str | None:
    """The first reason a control cannot run now, or None."""
    for reason, blocks in zip(BLOCKED_REASONS,
                              (archived, deploying, controlling, not has_runtime), strict=True):
        if blocks:
            return reason
    return None
