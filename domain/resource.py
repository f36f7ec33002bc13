"""Resources: an app described once (Appaloft's deployable unit) and deployed many times.

A Resource owns the desired configuration: the source image, the runtime profile (command and
arguments), the network profile (internal port and protocol), the health policy, variables and
secrets (sealed). Each deployment runs an immutable `ResourceSnapshot` of it, stored whole in the
Deployment's spec, so a rollback re-runs an earlier snapshot exactly. The Resource also counts
its attempts: one at a time, and never deleted while one has not settled (its blockers are
named); the last healthy one is what serves and what a rollback can return to.

This module holds the aggregate: its state, its lifecycle and every `@event` method, whose topics
(`domain.resource:Resource.Created`...) are stored and so never move. The rules it applies live
one concept a module: what a configuration may hold (domain/resource_profiles.py), the snapshot
a deployment runs (domain/resource_snapshot.py), its attempts (domain/resource_attempts.py),
its variables and secrets (domain/variables.py) and runtime control (domain/runtime_control.py).
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.resource_attempts import HEALTHY_OUTCOMES, MAX_GOOD, Deployable
from domain.resource_profiles import (
    DEFAULT_HEALTH,
    PROTOCOLS,
    check_health_policy,
    check_image,
    check_port,
    check_runtime,
)
from domain.runtime_control import RuntimeControllable, RuntimeState
from domain.shared import (
    GoneError,
    InvalidValueError,
    StateConflictError,
    check_text,
    declared_by_fields,
    slug_of,
)
from domain.soft_delete import SoftDeletable
from domain.variables import SecretKeeping, VariableWasSet, VariableWasUnset

MAX_NAME = 100
MAX_DESCRIPTION = 1000
KINDS = ("application",)


class ResourceGoneError(GoneError):
    """The resource was deleted."""


class ResourceArchivedError(StateConflictError):
    """An archived resource keeps its history but takes no configuration and no deployment."""


@declared_by_fields
class Resource(SoftDeletable, SecretKeeping, Deployable, RuntimeControllable, Aggregate):
    """One app in one environment of one project."""

    id: UUID
    project_id: UUID
    environment_id: UUID
    name: str
    slug: str
    kind: str
    description: str
    at: datetime
    image: str | None = field(default=None, init=False)
    command: str | None = field(default=None, init=False)
    args: list[str] = field(default_factory=list, init=False)
    internal_port: int | None = field(default=None, init=False)
    protocol: str = field(default="http", init=False)
    health: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_HEALTH), init=False)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    archived_at: datetime | None = field(default=None, init=False)
    active_deployment: UUID | None = field(default=None, init=False)  # the attempt not settled
    serving_deployment: UUID | None = field(default=None, init=False)  # the last healthy one
    # Rollback candidates, newest last.
    healthy_deployments: list[UUID] = field(default_factory=list, init=False)
    deployment_count: int = field(default=0, init=False)
    automatic_rollback: bool = field(default=False, init=False)  # roll a failed attempt back
    active_trigger: str | None = field(default=None, init=False)
    # (failed, candidate): an automatic rollback decided, not begun yet.
    rollback_due: tuple[UUID, UUID] | None = field(default=None, init=False)
    last_deployment_status: str | None = field(default=None, init=False)
    deleted: bool = field(default=False, init=False)
    # Runtime control (domain/runtime_control.py): the serving deployment's container as last
    # decided, and the attempt in progress {id, operation, deployment_id, done}.
    runtime_state: RuntimeState = field(default="running", init=False)
    runtime_control: dict[str, Any] | None = field(default=None, init=False)

    @classmethod
    def create(  # noqa: PLR0913
        cls, resource_id: UUID, project_id: UUID, environment_id: UUID, name: str,
        at: datetime, kind: str = "application", description: str = "",
    ) -> Resource:
        check_text(name, "name", MAX_NAME)
        check_text(description, "description", MAX_DESCRIPTION, min_length=0)
        if kind not in KINDS:
            raise InvalidValueError(f"must be one of {', '.join(KINDS)}", "kind")
        return cls(id=resource_id, project_id=project_id, environment_id=environment_id,
                   name=name, slug=slug_of(name), kind=kind, description=description, at=at)

    def gone(self) -> GoneError:
        return ResourceGoneError(f"resource {self.slug} was deleted")

    @property
    def lifecycle_status(self) -> str:
        return "archived" if self.archived_at is not None else "active"

    def check_mutable(self) -> None:
        """Live and not archived: what every configuration change needs. (The environment's
        lock is checked by the application, which loads both.)"""
        self.check_live()
        if self.archived_at is not None:
            raise ResourceArchivedError(f"resource {self.slug} is archived")

    # -- desired configuration -----------------------------------------------------------------
    def configure_source(self, image: str, at: datetime) -> None:
        self.check_mutable()
        check_image(image)
        if image != self.image:
            self._source_configured(image=image, at=at)

    @event("SourceConfigured")
    def _source_configured(self, image: str, at: datetime) -> None:
        self.image = image

    def configure_runtime(self, command: str | None, args: list[str], at: datetime) -> None:
        self.check_mutable()
        check_runtime(command, args)
        if (command, args) != (self.command, self.args):
            self._runtime_configured(command=command, args=list(args), at=at)

    @event("RuntimeProfileConfigured")
    def _runtime_configured(self, command: str | None, args: list[str], at: datetime) -> None:
        self.command = command
        self.args = list(args)

    def configure_network(self, internal_port: int, protocol: str, at: datetime) -> None:
        self.check_mutable()
        check_port(internal_port, "internalPort")
        if protocol not in PROTOCOLS:
            raise InvalidValueError(f"must be one of {', '.join(PROTOCOLS)}", "protocol")
        if (internal_port, protocol) != (self.internal_port, self.protocol):
            self._network_configured(internal_port=internal_port, protocol=protocol, at=at)

    @event("NetworkProfileConfigured")
    def _network_configured(self, internal_port: int, protocol: str, at: datetime) -> None:
        self.internal_port = internal_port
        self.protocol = protocol

    def configure_health(self, policy: dict[str, Any], at: datetime) -> None:
        self.check_mutable()
        full = check_health_policy(policy)
        if full != self.health:
            self._health_configured(policy=full, at=at)

    @event("HealthPolicyConfigured")
    def _health_configured(self, policy: dict[str, Any], at: datetime) -> None:
        self.health = dict(policy)

    def reset_health(self, at: datetime) -> None:
        self.check_mutable()
        if self.health != DEFAULT_HEALTH:
            self._health_reset(at=at)

    @event("HealthPolicyReset")
    def _health_reset(self, at: datetime) -> None:
        self.health = dict(DEFAULT_HEALTH)

    def configure_rollback(self, automatic: bool, at: datetime) -> None:
        self.check_mutable()
        if automatic != self.automatic_rollback:
            self._rollback_configured(automatic=automatic, at=at)

    @event("RollbackPolicyConfigured")
    def _rollback_configured(self, automatic: bool, at: datetime) -> None:
        self.automatic_rollback = automatic

    class VariableSet(VariableWasSet):
        """Stored as `domain.resource:Resource.VariableSet` (applied: domain/variables.py)."""

    class VariableUnset(VariableWasUnset):
        """Stored as `domain.resource:Resource.VariableUnset`."""

    def archive(self, at: datetime) -> None:
        """Archiving an archived resource changes nothing; an attempt in progress blocks it."""
        self.check_live()
        if self.archived_at is None:
            self._check_idle("archived")
            self._archived(at=at)

    @event("Archived")
    def _archived(self, at: datetime) -> None:
        self.archived_at = at

    # -- deployments (the rules: domain/resource_attempts.py) ----------------------------------
    @event("DeploymentBegun")
    def _deployment_begun(self, deployment_id: UUID, trigger: str, at: datetime) -> None:
        self.active_deployment = deployment_id
        self.active_trigger = trigger
        self.rollback_due = None
        self.deployment_count += 1
        self.last_deployment_status = "created"

    @event("DeploymentSettled")
    def _deployment_settled(self, deployment_id: UUID, status: str, at: datetime) -> None:
        # Never after a failed rollback: a rollback that fails too ends the chain there.
        due = (status == "failed" and self.automatic_rollback
               and self.active_trigger != "rollback" and self.healthy_deployments)
        self.rollback_due = (deployment_id, self.healthy_deployments[-1]) if due else None
        self.active_deployment = None
        self.active_trigger = None
        self.last_deployment_status = status
        if status in HEALTHY_OUTCOMES:
            self.serving_deployment = deployment_id
            self.runtime_state = "running"
            kept = [d for d in self.healthy_deployments if d != deployment_id]
            self.healthy_deployments = [*kept, deployment_id][-MAX_GOOD:]

    @event("AutomaticRollbackDecided")
    def _rollback_decided(
        self, failed_deployment_id: UUID, candidate_deployment_id: UUID,
        deployment_id: UUID | None, refused: str | None, at: datetime,
    ) -> None:
        self.rollback_due = None

    # -- deleting ------------------------------------------------------------------------------
    def delete_confirmed(self, confirmation_slug: str, at: datetime) -> None:
        """Appaloft confirms a delete with the resource's slug, not its id."""
        self.check_live()
        if confirmation_slug != self.slug:
            raise InvalidValueError("must equal the resource's slug",
                                    "confirmation.resourceSlug")
        self.delete(at)

    def check_deletable(self) -> None:
        self._check_idle("deleted")

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True

    # -- runtime control (the rules: domain/runtime_control.py) --------------------------------
    @event("RuntimeControlRequested")
    def _runtime_control_requested(  # noqa: PLR0913
        self, attempt_id: UUID, operation: str, deployment_id: UUID | None,
        blocked_reason: str | None, runtime_state: RuntimeState, at: datetime,
    ) -> None:
        if blocked_reason is None:
            self.runtime_control = {"id": attempt_id, "operation": operation,
                                    "deployment_id": deployment_id, "done": 0}
            self.runtime_state = runtime_state

    @event("RuntimeControlPhaseCompleted")
    def _runtime_phase_completed(self, attempt_id: UUID, phase: str, completed: bool,
                                 runtime_state: RuntimeState, at: datetime) -> None:
        assert self.runtime_control is not None
        self.runtime_state = runtime_state
        if completed:
            self.runtime_control = None
        else:
            self.runtime_control = {**self.runtime_control,
                                    "done": self.runtime_control["done"] + 1}

    @event("RuntimeControlFailed")
    def _runtime_control_failed(self, attempt_id: UUID, error_code: str, at: datetime) -> None:
        self.runtime_control = None
        self.runtime_state = "unknown"
