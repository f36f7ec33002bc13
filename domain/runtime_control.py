"""Runtime control of a resource (Appaloft's runtime stop / start / restart): acting on the
container of its current deployment without a new deployment attempt.

A runtime-control attempt is a short list of phases carried out by the node's agent: `stop`
(the container is stopped and kept), `start` (the same container starts again, health-checked
as its snapshot says), `restart` (stop, then start). The Resource records each attempt's
decision and outcome as events; this module holds the pure rules they follow, so the aggregate,
the read side and a property test ask the same functions, and the `RuntimeControllable` mixin
that applies them to the Resource (which declares the `@event` methods: their topics are stored).

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

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

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


class RuntimeControllable:
    """Mixed into the Resource aggregate: no deployment attempt, the serving container itself."""

    if TYPE_CHECKING:  # provided by the aggregate; declared here for the type checker only
        archived_at: datetime | None
        active_deployment: UUID | None
        runtime_state: RuntimeState
        runtime_control: dict[str, Any] | None

        def check_live(self) -> None: ...

        def _runtime_control_requested(  # noqa: PLR0913
            self, attempt_id: UUID, operation: str, deployment_id: UUID | None,
            blocked_reason: str | None, runtime_state: RuntimeState, at: datetime,
        ) -> None: ...

        def _runtime_phase_completed(self, attempt_id: UUID, phase: str, completed: bool,
                                     runtime_state: RuntimeState, at: datetime) -> None: ...

        def _runtime_control_failed(self, attempt_id: UUID, error_code: str,
                                    at: datetime) -> None: ...

    def request_runtime_control(self, attempt_id: UUID, operation: str,
                                deployment_id: UUID | None, at: datetime) -> str | None:
        """Records the decision; returns the blocked reason, or None when accepted.
        `deployment_id` is the serving deployment when its container still runs (or is
        stopped by an earlier control), else None. A phase whose state already holds (a stop
        of a stopped runtime) completes at once."""
        self.check_live()
        check_operation(operation)
        reason = blocked_reason(
            archived=self.archived_at is not None, deploying=self.active_deployment is not None,
            controlling=self.runtime_control is not None, has_runtime=deployment_id is not None)
        before = self.runtime_state
        first = PHASES[operation][0]
        self._runtime_control_requested(
            attempt_id=attempt_id, operation=operation, deployment_id=deployment_id,
            blocked_reason=reason, runtime_state=before if reason else transitional(first), at=at)
        if reason is None:
            while self.runtime_control is not None and phase_done(
                    next_phase(operation, self.runtime_control["done"]) or "", before):
                self._complete_phase(at)
        return reason

    def observe_runtime(self, attempt_id: UUID, observed: str, at: datetime) -> bool:
        """The agent's word on the container ("running" | "stopped"): completes the phase in
        progress when it is what the phase wants; anything else changes nothing."""
        control = self.runtime_control
        if control is None or control["id"] != attempt_id or observed not in (
                "running", "stopped"):
            return False
        phase = next_phase(control["operation"], control["done"])
        if phase is None or not phase_done(phase, observed):
            return False
        self._complete_phase(at)
        return True

    def _complete_phase(self, at: datetime) -> None:
        assert self.runtime_control is not None
        control = self.runtime_control
        phase = next_phase(control["operation"], control["done"])
        assert phase is not None
        following = next_phase(control["operation"], control["done"] + 1)
        self._runtime_phase_completed(
            attempt_id=control["id"], phase=phase, completed=following is None,
            runtime_state=desired(phase) if following is None else transitional(following),
            at=at)

    def fail_runtime_control(self, deployment_id: UUID, error_code: str, at: datetime) -> bool:
        """The deployment under the control in progress ended (crashed, stopped, superseded):
        the attempt fails; a word about another deployment changes nothing."""
        control = self.runtime_control
        if control is None or control["deployment_id"] != deployment_id:
            return False
        self._runtime_control_failed(attempt_id=control["id"], error_code=error_code, at=at)
        return True

    def expire_runtime_control(self, attempt_id: UUID, at: datetime) -> bool:
        """The agent never answered within the deadline: the attempt fails; the runtime stays
        wanted as the phase in progress said (the agent may still carry it out)."""
        control = self.runtime_control
        if control is None or control["id"] != attempt_id:
            return False
        self._runtime_control_failed(attempt_id=attempt_id,
                                     error_code="runtime-control-timeout", at=at)
        return True
