"""A Resource's deployment attempts: one at a time, each running a snapshot of the configuration,
and the last healthy ones remembered as what serves and what a rollback can return to.

An attempt begins (create, redeploy, retry or rollback) only when the configuration is
deployable and no other attempt is in progress; the one in progress also blocks archiving and
deleting, and is named in the refusal. When it settles failed and the resource asks for
automatic rollback, a rollback to the newest healthy attempt becomes due; the application
decides it (begun, or refused for a reason) in the transaction that settled the failure.

Like SoftDeletable, the mixin holds the rules only; the Resource declares the `@event` methods,
whose topics (`domain.resource:Resource.DeploymentBegun`...) are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.resource_profiles import configuration_blockers
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import BlockedError, InvalidValueError, StateConflictError
from domain.variables import effective

MAX_GOOD = 50  # healthy attempts remembered as rollback candidates, newest last
# Attempt outcomes a Resource records (domain/deployment_attempt.py: AttemptStatus).
HEALTHY_OUTCOMES = ("succeeded", "rolled-back")
OUTCOMES = (*HEALTHY_OUTCOMES, "failed", "canceled")
TRIGGERS = ("create", "redeploy", "retry", "rollback")


class ResourceBusyError(BlockedError):
    """An attempt is still in progress (delete, or a second attempt, must wait)."""

    def __init__(self, message: str, blockers: list[UUID]) -> None:
        super().__init__(message, "resourceId", blockers)


class ResourceNotReadyError(StateConflictError):
    """The resource cannot be deployed yet; `reasons` are the plan's reason codes."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message, "resourceId")
        self.reasons = reasons


class Deployable:
    """Mixed into the Resource aggregate."""

    if TYPE_CHECKING:  # provided by the aggregate; declared here for the type checker only
        id: UUID
        project_id: UUID
        environment_id: UUID
        slug: str
        image: str | None
        command: str | None
        args: list[str]
        internal_port: int | None
        protocol: str
        health: dict[str, Any]
        variables: dict[str, dict[str, Any]]
        archived_at: datetime | None
        active_deployment: UUID | None
        healthy_deployments: list[UUID]
        rollback_due: tuple[UUID, UUID] | None
        deleted: bool

        def check_live(self) -> None: ...

        def check_mutable(self) -> None: ...

        def _deployment_begun(self, deployment_id: UUID, trigger: str, at: datetime) -> None: ...

        def _deployment_settled(self, deployment_id: UUID, status: str, at: datetime) -> None: ...

        def _rollback_decided(
            self, failed_deployment_id: UUID, candidate_deployment_id: UUID,
            deployment_id: UUID | None, refused: str | None, at: datetime,
        ) -> None: ...

    def plan_blockers(self) -> list[str]:
        """Why a deployment cannot start now: Appaloft-style reason codes (empty: ready)."""
        reasons = self._configuration_blockers()
        if self.active_deployment is not None:
            reasons.append("attempt-not-terminal")
        return reasons

    def _configuration_blockers(self) -> list[str]:
        return configuration_blockers(self.archived_at is not None, self.image, self.health,
                                      self.internal_port)

    def snapshot(self, environment_variables: dict[str, dict[str, Any]],
                 at: datetime | None = None) -> ResourceSnapshot:
        """The configuration as it is now (`at`), merged with its environment's variables (an
        attempt in progress is begin_deployment's to refuse, naming it)."""
        self.check_live()
        reasons = self._configuration_blockers()
        if reasons:
            raise ResourceNotReadyError(
                f"resource {self.slug} cannot be deployed: {', '.join(reasons)}", reasons)
        assert self.image is not None  # plan_blockers names a missing source
        merged = effective({"environment": environment_variables, "resource": self.variables})
        return ResourceSnapshot(
            resource_id=self.id, environment_id=self.environment_id, project_id=self.project_id,
            slug=self.slug, image=self.image, command=self.command, args=tuple(self.args),
            internal_port=self.internal_port, protocol=self.protocol, health=dict(self.health),
            variables=tuple(merged.values()),
            created_at=None if at is None else at.isoformat(),
        )

    def begin_deployment(self, deployment_id: UUID, trigger: str, at: datetime) -> None:
        """An attempt starts (create, redeploy, retry or rollback): one at a time."""
        self.check_mutable()
        if trigger not in TRIGGERS:
            raise InvalidValueError(f"must be one of {', '.join(TRIGGERS)}", "trigger")
        self._check_idle("deployed again")
        self._deployment_begun(deployment_id=deployment_id, trigger=trigger, at=at)

    def settle_deployment(self, deployment_id: UUID, status: str, at: datetime) -> bool:
        """The attempt reached a terminal status; a word about another attempt changes nothing
        (a report repeated, or one about an attempt this resource no longer waits for)."""
        if status not in OUTCOMES:
            raise ValueError(f"not a terminal attempt status: {status}")
        if deployment_id != self.active_deployment:
            return False
        self._deployment_settled(deployment_id=deployment_id, status=status, at=at)
        return True

    def rollback_due_after(self, failed_id: UUID) -> UUID | None:
        """The healthy attempt to roll back to now that `failed_id` has failed, when this
        resource asks for automatic rollback and has one (never after a failed rollback)."""
        if self.rollback_due is None or self.rollback_due[0] != failed_id or self.deleted:
            return None
        return self.rollback_due[1]

    def decide_automatic_rollback(self, failed_id: UUID, rollback_id: UUID | None,
                                  refused: str | None, at: datetime) -> None:
        """Records the decision on a due rollback: begun as attempt `rollback_id`, or not
        begun for the reason `refused` (a locked environment...). Either way it is not due
        any more; the caller places the rollback in the same transaction."""
        candidate = self.rollback_due_after(failed_id)
        if candidate is None:
            raise StateConflictError(f"no automatic rollback is due after {failed_id}")
        if rollback_id is not None:
            self.check_mutable()
        self._rollback_decided(failed_deployment_id=failed_id,
                               candidate_deployment_id=candidate, deployment_id=rollback_id,
                               refused=refused, at=at)
        if rollback_id is not None:
            self.begin_deployment(rollback_id, "rollback", at)

    def check_rollback_candidate(self, deployment_id: UUID) -> None:
        if deployment_id not in self.healthy_deployments:
            raise InvalidValueError(
                f"deployment {deployment_id} is not a healthy earlier attempt of {self.slug}",
                "rollbackCandidateDeploymentId")

    def _check_idle(self, what: str) -> None:
        if self.active_deployment is not None:
            raise ResourceBusyError(
                f"resource {self.slug} cannot be {what} while deployment"
                f" {self.active_deployment} is in progress", [self.active_deployment])
