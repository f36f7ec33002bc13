"""A Deployment seen as an attempt of a Resource: its attempt status and the rules on it.

One Deployment aggregate runs every container (Edgegap, Mengi and Appaloft alike); its stored
lifecycle stays Edgegap's `Status.*`. A deployment of a Resource also has an attempt status,
Appaloft's created | planning | planned | running | cancel-requested | succeeded | failed |
canceled | rolled-back, derived here from the Deployment's own events, never stored: the read
side folds the same events with `advance`, and the application folds them to settle the
Resource in the transaction of the report that ends an attempt.

- Placement happens in the request's own decision, so `planning` and `planned` are never
  observed after a request returns (the plan is a read); a placed attempt is `running` until
  its node reports.
- `succeeded` only on READY, which the agent reports after the health policy passed;
  a rollback attempt that becomes healthy is `rolled-back` instead.
- A cancel asked before the end wins: the attempt ends `canceled`, even when the container
  became ready or failed before the stop took effect. Ended otherwise before it was healthy
  (an error, or a container that exited on its own): `failed`.
- Terminal statuses never change: a healthy attempt later stopped (superseded by a redeploy,
  or its runtime stopped) or crashed stays `succeeded`.
- Only a terminal attempt can be archived (`Deployment.Archived`, once): it leaves the lists,
  keeps its status, events and logs, and whatever it runs (a succeeded one may still serve).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from domain.deployment import Deployment, Status
from domain.shared import StateConflictError


class AttemptStatus(StrEnum):
    CREATED = "created"
    PLANNING = "planning"
    PLANNED = "planned"
    RUNNING = "running"
    CANCEL_REQUESTED = "cancel-requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ROLLED_BACK = "rolled-back"


ACTIVE = frozenset({AttemptStatus.CREATED, AttemptStatus.PLANNING, AttemptStatus.PLANNED,
                    AttemptStatus.RUNNING})
TERMINAL = frozenset({AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.CANCELED,
                      AttemptStatus.ROLLED_BACK})
HEALTHY = frozenset({AttemptStatus.SUCCEEDED, AttemptStatus.ROLLED_BACK})
RETRYABLE = frozenset({AttemptStatus.FAILED, AttemptStatus.CANCELED})


class AttemptNotActiveError(StateConflictError):
    """Only an active attempt can be canceled (reason code `attempt-not-active`)."""


class AttemptNotRetryableError(StateConflictError):
    """Only a failed or canceled attempt can be retried (reason code `attempt-not-terminal`
    while it runs)."""


class AttemptNotTerminalError(StateConflictError):
    """Only a terminal attempt (succeeded, failed, canceled, rolled-back) can be archived
    (reason code `attempt-not-terminal`)."""


class NotRollbackCandidateError(StateConflictError):
    """A rollback returns to an attempt that was healthy (succeeded or rolled-back)."""


def advance(current: AttemptStatus, event_name: str, rollback: bool) -> AttemptStatus:
    """The attempt status after one Deployment event (by its class name: `Placed`...)."""
    if current in TERMINAL:
        return current
    canceling = current == AttemptStatus.CANCEL_REQUESTED
    if event_name == "Requested":
        return AttemptStatus.CREATED
    if event_name == "Placed":
        return current if canceling else AttemptStatus.RUNNING
    if event_name in ("StopDeferred", "StopRequested"):
        return AttemptStatus.CANCEL_REQUESTED
    if event_name == "Ready":
        if canceling:
            return current
        return AttemptStatus.ROLLED_BACK if rollback else AttemptStatus.SUCCEEDED
    if event_name == "Failed":
        return AttemptStatus.CANCELED if canceling else AttemptStatus.FAILED
    if event_name == "Terminated":  # ended before it was healthy
        return AttemptStatus.CANCELED if canceling else AttemptStatus.FAILED
    return current  # tags and anything else leave the attempt as it is


def attempt_status(events: Iterable[Any], rollback: bool) -> AttemptStatus:
    """Folds a Deployment's events (oldest first) into its attempt status."""
    status = AttemptStatus.CREATED
    for domain_event in events:
        if isinstance(domain_event, Deployment.Event):
            status = advance(status, type(domain_event).__name__, rollback)
    return status


def attempt_of(deployment: Deployment) -> AttemptStatus:
    """The same status as `attempt_status` over its events, read from the aggregate's state: what
    a decision uses to settle the Resource the moment an attempt ends."""
    over = deployment.status in (Status.ERROR.value, Status.TERMINATED.value)
    if deployment.stopped_early:
        return AttemptStatus.CANCELED if over else AttemptStatus.CANCEL_REQUESTED
    if deployment.ever_ready:
        rollback = is_rollback(deployment.spec)
        return AttemptStatus.ROLLED_BACK if rollback else AttemptStatus.SUCCEEDED
    if over:
        return AttemptStatus.FAILED
    if deployment.status == Status.DEPLOYING.value:
        return AttemptStatus.RUNNING
    return AttemptStatus.CREATED


def is_rollback(spec: dict[str, Any]) -> bool:
    return spec.get("trigger") == "rollback"


def check_cancelable(status: AttemptStatus) -> bool:
    """True when a cancel is to be asked now; False when one is already under way."""
    if status == AttemptStatus.CANCEL_REQUESTED:
        return False
    if status not in ACTIVE:
        raise AttemptNotActiveError(f"the attempt is {status}; only an active one can be"
                                    " canceled", "deploymentId")
    return True


def check_retryable(status: AttemptStatus) -> None:
    if status not in RETRYABLE:
        raise AttemptNotRetryableError(f"the attempt is {status}; only a failed or canceled one"
                                       " can be retried", "deploymentId")


def check_archivable(status: AttemptStatus) -> None:
    if status not in TERMINAL:
        raise AttemptNotTerminalError(f"the attempt is {status}; only a terminal one can be"
                                      " archived", "deploymentId")


def check_rollback_candidate(status: AttemptStatus) -> None:
    if status not in HEALTHY:
        raise NotRollbackCandidateError(
            f"the candidate attempt is {status}; only a succeeded or rolled-back one can be"
            " returned to", "rollbackCandidateDeploymentId")
