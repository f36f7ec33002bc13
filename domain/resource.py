"""Resources: an app described once (Appaloft's deployable unit) and deployed many times.

A Resource owns the desired configuration: the source image, the runtime profile (command and
arguments), the network profile (internal port and protocol), the health policy, variables and
secrets (sealed). Each deployment runs an immutable `ResourceSnapshot` of it, stored whole in the
Deployment's spec, so a rollback re-runs an earlier snapshot exactly. The Resource also counts
its attempts: one at a time, and never deleted while one has not settled (its blockers are
named); the last healthy one is what serves and what a rollback can return to.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.runtime_control import (
    PHASES,
    RuntimeState,
    blocked_reason,
    check_operation,
    desired,
    next_phase,
    phase_done,
    transitional,
)
from domain.shared import (
    GoneError,
    InvalidValueError,
    StateConflictError,
    check_text,
    declared_by_fields,
    slug_of,
)
from domain.soft_delete import SoftDeletable
from domain.variables import (
    PRECEDENCE,
    Configurable,
    VariableNotFoundError,
    effective,
    entry_id,
    variable_entry,
)

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_IMAGE = 512
MAX_COMMAND = 4096
MAX_ARGS = 64
MAX_PATH = 1024
MAX_SECONDS = 3600
MAX_RETRIES = 100
MAX_GOOD = 50  # healthy attempts remembered as rollback candidates, newest last
KINDS = ("application",)
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
PROTOCOLS = {"http": "HTTP", "tcp": "TCP", "udp": "UDP"}  # -> the Deployment spec's names
HEALTH_TYPES = ("http", "tcp")
DEFAULT_HEALTH: dict[str, Any] = {
    # Off by default: a running container is then the only check (as for every deployment).
    "enabled": False, "type": "http", "path": "/", "port": None, "expected_status": 200,
    "interval_seconds": 5, "timeout_seconds": 2, "retries": 3, "start_period_seconds": 0,
}
DEFAULT_CPU_UNITS = 256  # what a resource's container gets (no profile sets it yet)
DEFAULT_MEMORY_MB = 256
# Attempt outcomes a Resource records (domain/deployment_attempt.py: AttemptStatus).
HEALTHY_OUTCOMES = ("succeeded", "rolled-back")
OUTCOMES = (*HEALTHY_OUTCOMES, "failed", "canceled")
TRIGGERS = ("create", "redeploy", "retry", "rollback")


class ResourceGoneError(GoneError):
    """The resource was deleted."""


class ResourceArchivedError(StateConflictError):
    """An archived resource keeps its history but takes no configuration and no deployment."""


class ResourceBusyError(StateConflictError):
    """An attempt is still in progress (delete, or a second attempt, must wait)."""

    def __init__(self, message: str, blockers: list[UUID]) -> None:
        super().__init__(message, "resourceId")
        self.blockers = blockers


class SecretExistsError(StateConflictError):
    """Creating a secret that exists: rotate it instead."""


class ResourceNotReadyError(StateConflictError):
    """The resource cannot be deployed yet; `reasons` are the plan's reason codes."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message, "resourceId")
        self.reasons = reasons


def check_image(image: str) -> str:
    if not 1 <= len(image) <= MAX_IMAGE or not IMAGE.match(image):
        raise InvalidValueError(f"an image reference (registry/name:tag or @digest), at most"
                                f" {MAX_IMAGE} characters, no spaces", "image")
    return image


def _check_free_text(value: str, field_name: str, limit: int) -> None:
    if len(value) > limit or "\0" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidValueError(f"at most {limit} characters, no NUL", field_name)


def check_runtime(command: str | None, args: list[str]) -> None:
    if command is not None:
        if not command.strip():
            raise InvalidValueError("must not be blank (omit it to keep the image's)", "command")
        _check_free_text(command, "command", MAX_COMMAND)
        try:
            shlex.split(command)
        except ValueError as exc:
            raise InvalidValueError(f"cannot be split into words ({exc})", "command") from None
    if len(args) > MAX_ARGS:
        raise InvalidValueError(f"at most {MAX_ARGS} arguments", "args")
    for i, arg in enumerate(args):
        _check_free_text(arg, f"args[{i}]", MAX_COMMAND)


def check_port(port: int | None, field_name: str) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise InvalidValueError("must be between 1 and 65535", field_name)


def _check_number(policy: dict[str, Any], name: str, low: int, high: int) -> None:
    value = policy[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValueError(f"must be an integer between {low} and {high}",
                                f"healthCheck.{name}")


def check_health_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """A complete policy (missing fields take DEFAULT_HEALTH's), each field within bounds."""
    unknown = set(policy) - set(DEFAULT_HEALTH)
    if unknown:
        raise InvalidValueError(f"unknown fields: {', '.join(sorted(unknown))}", "healthCheck")
    full = {**DEFAULT_HEALTH, **policy}
    if not isinstance(full["enabled"], bool):
        raise InvalidValueError("must be true or false", "healthCheck.enabled")
    if full["type"] not in HEALTH_TYPES:
        raise InvalidValueError(f"must be one of {', '.join(HEALTH_TYPES)}", "healthCheck.type")
    path = full["path"]
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH or any(
            ord(c) <= 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in path):
        raise InvalidValueError(f"an absolute path without spaces, at most {MAX_PATH}",
                                "healthCheck.path")
    if full["port"] is not None:
        _check_number(full, "port", 1, 65535)
    _check_number(full, "expected_status", 100, 599)
    _check_number(full, "interval_seconds", 1, MAX_SECONDS)
    _check_number(full, "timeout_seconds", 1, MAX_SECONDS)
    _check_number(full, "retries", 1, MAX_RETRIES)
    _check_number(full, "start_period_seconds", 0, MAX_SECONDS)
    return full


def configuration_blockers(archived: bool, image: str | None, health: dict[str, Any],
                           internal_port: int | None) -> list[str]:
    """Why this configuration cannot be deployed: Appaloft-style reason codes (the aggregate
    and the read side's plan ask the same rule)."""
    reasons = []
    if archived:
        reasons.append("resource-archived")
    if image is None:
        reasons.append("resource-source-missing")
    if health["enabled"] and health["port"] is None and internal_port is None:
        reasons.append("resource-health-port-missing")
    return reasons


@dataclass(frozen=True)
class ResourceSnapshot:
    """What one deployment runs, fixed when it is requested. Secrets stay sealed inside; the
    agent's work answer is the one place they are opened (application/deployment_work.py)."""

    resource_id: UUID
    environment_id: UUID
    project_id: UUID
    slug: str
    image: str
    command: str | None
    args: tuple[str, ...]
    internal_port: int | None
    protocol: str
    health: dict[str, Any]
    # The effective entries (each with its scope), both exposures, secrets sealed.
    variables: tuple[dict[str, Any], ...]
    precedence: tuple[str, ...] = PRECEDENCE
    cpu_units: int = DEFAULT_CPU_UNITS
    memory_mb: int = DEFAULT_MEMORY_MB
    # When it was taken (ISO 8601): a retry or a rollback re-runs it and keeps this time.
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unused yet; keeps from_spec total

    def as_spec(self) -> dict[str, Any]:
        """The Deployment spec: the keys every deployment has (image, ports, env, command...)
        plus the resource's own under `resource`. The container gets runtime variables."""
        ports = [] if self.internal_port is None else [{
            "port": self.internal_port, "protocol": PROTOCOLS[self.protocol],
            "name": str(self.internal_port), "tls_upgrade": False}]
        env = [_container_env(v) for v in self.variables if v["exposure"] == "runtime"]
        return {
            "app": self.slug, "version": "resource", "image": self.image, "ports": ports,
            "cpu_units": self.cpu_units, "memory_mb": self.memory_mb, "max_duration": 0,
            "command": self.command,
            "arguments": shlex.join(self.args) if self.args else None,
            "env": env, "tags": [], "health": dict(self.health),
            "resource": {
                "resource_id": str(self.resource_id),
                "environment_id": str(self.environment_id),
                "project_id": str(self.project_id), "args": list(self.args),
                "internal_port": self.internal_port, "protocol": self.protocol,
                "variables": [dict(v) for v in self.variables],
                "precedence": list(self.precedence), "created_at": self.created_at,
                **self.extra,
            },
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ResourceSnapshot:
        """The snapshot a Deployment ran (for a rollback or a retry); exact inverse of as_spec."""
        own = dict(spec["resource"])
        known = {"resource_id", "environment_id", "project_id", "args", "internal_port",
                 "protocol", "variables", "precedence", "created_at"}
        return cls(
            resource_id=UUID(own["resource_id"]), environment_id=UUID(own["environment_id"]),
            project_id=UUID(own["project_id"]), slug=spec["app"], image=spec["image"],
            command=spec["command"], args=tuple(own["args"]),
            internal_port=own["internal_port"], protocol=own["protocol"],
            health=dict(spec["health"]), variables=tuple(dict(v) for v in own["variables"]),
            precedence=tuple(own["precedence"]), cpu_units=spec["cpu_units"],
            memory_mb=spec["memory_mb"], created_at=own.get("created_at"),
            extra={k: v for k, v in own.items() if k not in known},
        )


def _container_env(entry: dict[str, Any]) -> dict[str, Any]:
    """In the format start_spec opens (application/apps.py: sealed_env)."""
    if entry["is_secret"]:
        return {"key": entry["key"], "value": None, "is_hidden": True, "sealed": entry["sealed"]}
    return {"key": entry["key"], "value": entry["value"], "is_hidden": False}


@declared_by_fields
class Resource(SoftDeletable, Configurable, Aggregate):
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

    # -- desired configuration ---------------------------------------------------------------
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

    @event("VariableSet")
    def _variable_set(  # noqa: PLR0913
        self, key: str, exposure: str, kind: str, value: str | None, sealed: str | None,
        at: datetime,
    ) -> None:
        self.variables[entry_id(key, exposure)] = variable_entry(key, exposure, kind, value,
                                                                 sealed, at)

    @event("VariableUnset")
    def _variable_unset(self, key: str, exposure: str, at: datetime) -> None:
        self.variables.pop(entry_id(key, exposure), None)

    # Secrets are variables of kind `secret` (sealed); Appaloft creates, rotates and deletes
    # them through their own commands, each refusing the wrong starting point.
    def create_secret(self, key: str, exposure: str, sealed: str, at: datetime) -> None:
        self.check_mutable()
        if entry_id(key, exposure) in self.variables:
            raise SecretExistsError(f"{exposure} {key} exists; rotate it instead", "key")
        self.set_variable(key, exposure, None, sealed, at)

    def rotate_secret(self, key: str, exposure: str, sealed: str, at: datetime) -> None:
        self.check_mutable()
        self._secret(key, exposure)
        self.set_variable(key, exposure, None, sealed, at)

    def delete_secret(self, key: str, exposure: str, at: datetime) -> None:
        self.check_mutable()
        self._secret(key, exposure)
        self.unset_variable(key, exposure, at)

    def _secret(self, key: str, exposure: str) -> dict[str, Any]:
        found = self.variable(key, exposure)
        if not found["is_secret"]:
            raise VariableNotFoundError(f"no {exposure} secret {key} (it is a plain variable)",
                                        "key")
        return found

    def archive(self, at: datetime) -> None:
        """Archiving an archived resource changes nothing; an attempt in progress blocks it."""
        self.check_live()
        if self.archived_at is None:
            self._check_idle("archived")
            self._archived(at=at)

    @event("Archived")
    def _archived(self, at: datetime) -> None:
        self.archived_at = at

    # -- deployments ---------------------------------------------------------------------------
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

    @event("DeploymentBegun")
    def _deployment_begun(self, deployment_id: UUID, trigger: str, at: datetime) -> None:
        self.active_deployment = deployment_id
        self.active_trigger = trigger
        self.rollback_due = None
        self.deployment_count += 1
        self.last_deployment_status = "created"

    def settle_deployment(self, deployment_id: UUID, status: str, at: datetime) -> bool:
        """The attempt reached a terminal status; a word about another attempt changes nothing
        (a report repeated, or one about an attempt this resource no longer waits for)."""
        if status not in OUTCOMES:
            raise ValueError(f"not a terminal attempt status: {status}")
        if deployment_id != self.active_deployment:
            return False
        self._deployment_settled(deployment_id=deployment_id, status=status, at=at)
        return True

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

    @event("AutomaticRollbackDecided")
    def _rollback_decided(
        self, failed_deployment_id: UUID, candidate_deployment_id: UUID,
        deployment_id: UUID | None, refused: str | None, at: datetime,
    ) -> None:
        self.rollback_due = None

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

    # -- deleting --------------------------------------------------------------------------
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

    # -- runtime control (no deployment attempt: the serving container itself) -------------
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
