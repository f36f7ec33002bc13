"""The workloads' part of the edge.* catalog: what runs on the fleet's nodes, as command
executions, Edgegap's deployments, and Appaloft's projects, environments and resources (with
their rollbacks and runtime controls). Each payload struct, how a stored event becomes it, and
which stored events are published as which type; domain/catalog.py assembles the catalog from
this module and catalog_fleet.py. Variables are published by key and exposure, never by value.

Payload structs are the public contract: add optional fields freely; anything else needs a new
schema_version (domain/catalog.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec

from domain.command_execution import CommandExecution
from domain.deployment import Deployment
from domain.environment import Environment
from domain.project import Project
from domain.resource import Resource


class CommandExecutionChanged(msgspec.Struct, kw_only=True):
    """One node's execution of a command moved through its lifecycle."""

    execution_id: UUID
    command_id: UUID
    node_id: UUID | None
    cluster_name: str | None
    status: str
    exit_code: int | None = None
    # Why it ended, for cancelled and expired ("node deleted", "expired_at passed", ...).
    reason: str | None = None


class DeploymentChanged(msgspec.Struct, kw_only=True):
    """A deployment moved through its lifecycle (Edgegap `Status.*` values)."""

    request_id: str
    status: str
    app_name: str | None = None
    app_version: str | None = None
    node_id: UUID | None = None
    exit_code: int | None = None
    detail: str | None = None
    reason: str | None = None


class ProjectChanged(msgspec.Struct, kw_only=True):
    """A project was created, renamed, archived, restored or deleted."""

    project_id: UUID
    name: str | None = None
    slug: str | None = None
    reason: str | None = None


class EnvironmentChanged(msgspec.Struct, kw_only=True):
    """An environment's lifecycle or one of its variables changed (values are never sent)."""

    environment_id: UUID
    project_id: UUID | None = None
    name: str | None = None
    kind: str | None = None
    parent_environment_id: UUID | None = None  # created: cloned or promoted from
    reason: str | None = None
    key: str | None = None
    exposure: str | None = None
    is_secret: bool | None = None


class ResourceChanged(msgspec.Struct, kw_only=True):
    """A resource (an app) or its desired configuration changed (values are never sent)."""

    resource_id: UUID
    project_id: UUID | None = None
    environment_id: UUID | None = None
    name: str | None = None
    slug: str | None = None
    image: str | None = None
    internal_port: int | None = None
    protocol: str | None = None
    key: str | None = None
    exposure: str | None = None
    is_secret: bool | None = None
    automatic_rollback: bool | None = None


class ResourceRollbackDecided(msgspec.Struct, kw_only=True):
    """An attempt of a resource asking for automatic rollback failed: rolled back to its last
    healthy attempt as a new one (`deployment_id`), or not, for the reason `refused`."""

    resource_id: UUID
    failed_deployment_id: UUID
    candidate_deployment_id: UUID
    deployment_id: UUID | None = None
    refused: str | None = None


class RuntimeControlChanged(msgspec.Struct, kw_only=True):
    """A runtime stop, start or restart of a resource's container was decided (accepted or
    blocked, with its reason), completed a phase, or failed."""

    resource_id: UUID
    runtime_control_attempt_id: UUID
    operation: str | None = None
    deployment_id: UUID | None = None
    blocked_reason: str | None = None
    phase: str | None = None
    completed: bool | None = None
    runtime_state: str | None = None
    error_code: str | None = None


def _execution(status: str) -> Callable[[Any], msgspec.Struct]:
    def payload(e: Any) -> msgspec.Struct:
        return CommandExecutionChanged(
            execution_id=e.originator_id, command_id=e.command_id, node_id=e.node_id,
            cluster_name=e.cluster_name, status=status,
            exit_code=getattr(e, "exit_code", None), reason=getattr(e, "reason", None),
        )

    return payload


def _deployment(status: str) -> Callable[[Any], msgspec.Struct]:
    def payload(e: Any) -> msgspec.Struct:
        spec = getattr(e, "spec", None) or {}
        return DeploymentChanged(
            request_id=e.request_id, status=getattr(e, "status", status),
            app_name=spec.get("app"),
            app_version=spec.get("version"), node_id=getattr(e, "node_id", None),
            exit_code=getattr(e, "exit_code", None), detail=getattr(e, "detail", None),
            reason=getattr(e, "reason", None),
        )

    return payload


def _project(e: Any) -> msgspec.Struct:
    return ProjectChanged(project_id=e.originator_id, name=getattr(e, "name", None),
                          slug=getattr(e, "slug", None), reason=getattr(e, "reason", None))


def _variable(e: Any) -> dict[str, Any]:
    """A variable's key and exposure, and whether it is a secret: never its value."""
    kind = getattr(e, "kind", None)
    return {"key": e.key, "exposure": e.exposure,
            "is_secret": None if kind is None else kind == "secret"}


def _environment(e: Any) -> msgspec.Struct:
    variable = _variable(e) if hasattr(e, "exposure") else {}
    return EnvironmentChanged(
        environment_id=e.originator_id, project_id=getattr(e, "project_id", None),
        name=getattr(e, "name", None), kind=None if variable else getattr(e, "kind", None),
        parent_environment_id=getattr(e, "parent_environment_id", None),
        reason=getattr(e, "reason", None), **variable)


def _resource(e: Any) -> msgspec.Struct:
    variable = _variable(e) if hasattr(e, "exposure") else {}
    return ResourceChanged(
        resource_id=e.originator_id, project_id=getattr(e, "project_id", None),
        environment_id=getattr(e, "environment_id", None), name=getattr(e, "name", None),
        slug=getattr(e, "slug", None), image=getattr(e, "image", None),
        internal_port=getattr(e, "internal_port", None),
        protocol=getattr(e, "protocol", None),
        automatic_rollback=getattr(e, "automatic", None), **variable)


def _rollback_decided(e: Any) -> msgspec.Struct:
    return ResourceRollbackDecided(
        resource_id=e.originator_id, failed_deployment_id=e.failed_deployment_id,
        candidate_deployment_id=e.candidate_deployment_id, deployment_id=e.deployment_id,
        refused=e.refused)


def _runtime_control(e: Any) -> msgspec.Struct:
    return RuntimeControlChanged(
        resource_id=e.originator_id, runtime_control_attempt_id=e.attempt_id,
        **{name: getattr(e, name) for name in (
            "operation", "deployment_id", "blocked_reason", "phase", "completed",
            "runtime_state", "error_code") if hasattr(e, name)})


EVENTS: dict[type[Any], tuple[str, Callable[[Any], msgspec.Struct]]] = {
    CommandExecution.Created: ("edge.command_execution.created", _execution("pending")),
    CommandExecution.Sent: ("edge.command_execution.sent", _execution("sent")),
    CommandExecution.Completed: ("edge.command_execution.completed", _execution("completed")),
    CommandExecution.Cancelled: ("edge.command_execution.cancelled", _execution("cancelled")),
    CommandExecution.Expired: ("edge.command_execution.expired", _execution("expired")),
    CommandExecution.Pruned: ("edge.command_execution.pruned", _execution("pruned")),
    Deployment.Requested: ("edge.deployment.requested", _deployment("Status.SEEKING")),
    Deployment.Placed: ("edge.deployment.placed", _deployment("Status.DEPLOYING")),
    Deployment.Ready: ("edge.deployment.ready", _deployment("Status.READY")),
    Deployment.Failed: ("edge.deployment.error", _deployment("Status.ERROR")),
    # Its status is the one the stop found (READY or ERROR); the event carries it.
    Deployment.StopRequested: ("edge.deployment.stop_requested", _deployment("Status.READY")),
    Deployment.Terminated: ("edge.deployment.terminated", _deployment("Status.TERMINATED")),
    # Archived carries the status it had (an attempt archived once terminal: READY, ERROR...).
    Deployment.Archived: ("edge.deployment.archived", _deployment("Status.TERMINATED")),
    Project.Created: ("edge.project.created", _project),
    Project.Renamed: ("edge.project.renamed", _project),
    Project.Archived: ("edge.project.archived", _project),
    Project.Restored: ("edge.project.restored", _project),
    Project.Deleted: ("edge.project.deleted", _project),
    Environment.Created: ("edge.environment.created", _environment),
    Environment.Renamed: ("edge.environment.renamed", _environment),
    Environment.Locked: ("edge.environment.locked", _environment),
    Environment.Unlocked: ("edge.environment.unlocked", _environment),
    Environment.Archived: ("edge.environment.archived", _environment),
    Environment.Deleted: ("edge.environment.deleted", _environment),
    Environment.VariableSet: ("edge.environment.variable_set", _environment),
    Environment.VariableUnset: ("edge.environment.variable_unset", _environment),
    Resource.Created: ("edge.resource.created", _resource),
    Resource.SourceConfigured: ("edge.resource.source_configured", _resource),
    Resource.RuntimeProfileConfigured: ("edge.resource.runtime_profile_configured", _resource),
    Resource.NetworkProfileConfigured: ("edge.resource.network_profile_configured", _resource),
    Resource.HealthPolicyConfigured: ("edge.resource.health_policy_configured", _resource),
    Resource.HealthPolicyReset: ("edge.resource.health_policy_reset", _resource),
    Resource.RollbackPolicyConfigured: ("edge.resource.rollback_policy_configured", _resource),
    Resource.AutomaticRollbackDecided: ("edge.resource.automatic_rollback_decided",
                                        _rollback_decided),
    Resource.VariableSet: ("edge.resource.variable_set", _resource),
    Resource.VariableUnset: ("edge.resource.variable_unset", _resource),
    Resource.Archived: ("edge.resource.archived", _resource),
    Resource.Deleted: ("edge.resource.deleted", _resource),
    Resource.RuntimeControlRequested: ("edge.resource.runtime_control_requested",
                                       _runtime_control),
    Resource.RuntimeControlPhaseCompleted: ("edge.resource.runtime_control_phase_completed",
                                            _runtime_control),
    Resource.RuntimeControlFailed: ("edge.resource.runtime_control_failed",
                                    _runtime_control),
}
