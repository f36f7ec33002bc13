"""The public edge.* event catalog: types in catalog order, versioned payloads, and the mapping
from stored domain events to the messages NATS subscribers, webhooks and streams receive.

Payload structs are the public contract (AsyncAPI and schemas/events are generated from them):
add optional fields freely; anything else needs a new schema_version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
from uuid import UUID, uuid5

import msgspec

from domain.command_execution import CommandExecution
from domain.deployment import Deployment
from domain.enrollment_key import EnrollmentKey
from domain.environment import Environment
from domain.node import Node
from domain.project import Project
from domain.resource import Resource
from domain.self_update import SelfUpdateRequest
from domain.shared import EDGE_NAMESPACE
from domain.ssh_access import SshLogin

SCHEMA_VERSION = 1
SOURCE = "edge-admin"


class EnrollmentKeyVerified(msgspec.Struct, kw_only=True):
    """An agent presented a valid enrollment key; one use was consumed."""

    enrollment_key_id: UUID
    cluster_name: str
    node_id: UUID
    uses_remaining: int | None


class NodeRegistered(msgspec.Struct, kw_only=True):
    """A node joined a cluster for the first time (or came back after being deleted)."""

    node_id: UUID
    cluster_name: str
    id_type: str
    version: str | None
    self_update_enabled: bool


class NodeReregistered(msgspec.Struct, kw_only=True):
    """A known node started again (agent restart or re-enrollment)."""

    node_id: UUID
    cluster_name: str
    self_update_enabled: bool
    reenrolled: bool


class NodeVersionChanged(msgspec.Struct, kw_only=True):
    """The agent reported a different version than before."""

    node_id: UUID
    cluster_name: str
    previous_version: str | None
    version: str | None


class NodeStatusChanged(msgspec.Struct, kw_only=True):
    """healthy / unhealthy / unreachable transition, with why it happened."""

    node_id: UUID
    cluster_name: str
    previous_status: str
    status: str
    reason: str


class NodeClusterChanged(msgspec.Struct, kw_only=True):
    """A node (and its aliases) moved to another cluster."""

    node_id: UUID
    previous_cluster_name: str
    cluster_name: str


class NodeUpdateTriggered(msgspec.Struct, kw_only=True):
    """A self-update was dispatched to a node."""

    node_id: UUID
    cluster_name: str
    self_update_request_id: UUID


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


class SshUsernameVerified(msgspec.Struct, kw_only=True):
    """An agent asked the admin to check SSH credentials (never the secret itself)."""

    ssh_username_id: UUID | None
    node_id: UUID
    username: str
    method: str
    outcome: str
    # SHA256 fingerprint of the offered key (publickey logins only).
    fingerprint: str | None = None


class SelfUpdateRequestCompleted(msgspec.Struct, kw_only=True):
    """A self-update request finished; summary counts per node."""

    self_update_request_id: UUID
    total: int
    triggered: int
    failed: int


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


PAYLOADS: dict[str, type[msgspec.Struct]] = {
    "edge.enrollment_key.verified": EnrollmentKeyVerified,
    "edge.node.registered": NodeRegistered,
    "edge.node.reregistered": NodeReregistered,
    "edge.node.version_changed": NodeVersionChanged,
    "edge.node.status_changed": NodeStatusChanged,
    "edge.node.cluster_changed": NodeClusterChanged,
    "edge.node.update_triggered": NodeUpdateTriggered,
    "edge.command_execution.created": CommandExecutionChanged,
    "edge.command_execution.sent": CommandExecutionChanged,
    "edge.command_execution.completed": CommandExecutionChanged,
    "edge.command_execution.cancelled": CommandExecutionChanged,
    "edge.command_execution.expired": CommandExecutionChanged,
    "edge.command_execution.pruned": CommandExecutionChanged,
    "edge.ssh_username.verified": SshUsernameVerified,
    "edge.self_update_request.completed": SelfUpdateRequestCompleted,
    "edge.deployment.requested": DeploymentChanged,
    "edge.deployment.placed": DeploymentChanged,
    "edge.deployment.ready": DeploymentChanged,
    "edge.deployment.error": DeploymentChanged,
    "edge.deployment.stop_requested": DeploymentChanged,
    "edge.deployment.terminated": DeploymentChanged,
    "edge.project.created": ProjectChanged,
    "edge.project.renamed": ProjectChanged,
    "edge.project.archived": ProjectChanged,
    "edge.project.restored": ProjectChanged,
    "edge.project.deleted": ProjectChanged,
    "edge.environment.created": EnvironmentChanged,
    "edge.environment.renamed": EnvironmentChanged,
    "edge.environment.locked": EnvironmentChanged,
    "edge.environment.unlocked": EnvironmentChanged,
    "edge.environment.archived": EnvironmentChanged,
    "edge.environment.variable_set": EnvironmentChanged,
    "edge.environment.variable_unset": EnvironmentChanged,
    "edge.resource.created": ResourceChanged,
    "edge.resource.source_configured": ResourceChanged,
    "edge.resource.runtime_profile_configured": ResourceChanged,
    "edge.resource.network_profile_configured": ResourceChanged,
    "edge.resource.health_policy_configured": ResourceChanged,
    "edge.resource.health_policy_reset": ResourceChanged,
    "edge.resource.rollback_policy_configured": ResourceChanged,
    "edge.resource.automatic_rollback_decided": ResourceRollbackDecided,
    "edge.resource.variable_set": ResourceChanged,
    "edge.resource.variable_unset": ResourceChanged,
    "edge.resource.archived": ResourceChanged,
    "edge.resource.deleted": ResourceChanged,
    "edge.resource.runtime_control_requested": RuntimeControlChanged,
    "edge.resource.runtime_control_phase_completed": RuntimeControlChanged,
    "edge.resource.runtime_control_failed": RuntimeControlChanged,
}
EVENT_TYPES: tuple[str, ...] = tuple(PAYLOADS)


class Message(msgspec.Struct, kw_only=True):
    """The envelope every subscriber receives; `id` is stable for one stored event forever."""

    id: UUID
    type: str
    schema_version: int
    source: str
    position: int
    occurred_at: datetime
    subject_id: UUID
    data: msgspec.Struct


class _Typed(msgspec.Struct):
    type: str


# Message with `data` typed for one message type: what a subscriber decodes a message as (the
# same fields in the same order; `data` alone is narrowed).
_TYPED: dict[str, type[Message]] = {
    name: cast("type[Message]", msgspec.defstruct(
        "Message", [("data", payload)], bases=(Message,), kw_only=True))
    for name, payload in PAYLOADS.items()
}
_FIELDS = Message.__struct_fields__


def decode_message(raw: bytes) -> Message:
    """A catalog message from its JSON (the payload type depends on the message type). Raises
    msgspec.DecodeError or ValidationError when malformed, ValueError for an unknown type."""
    kind = msgspec.json.decode(raw, type=_Typed).type
    typed = _TYPED.get(kind)
    if typed is None:
        raise ValueError(f"unknown message type {kind!r}")
    decoded = msgspec.json.decode(raw, type=typed)
    return Message(**{name: getattr(decoded, name) for name in _FIELDS})


def _key_verified(e: Any) -> msgspec.Struct:
    return EnrollmentKeyVerified(enrollment_key_id=e.originator_id, cluster_name=e.cluster_name,
                                 node_id=e.node_id, uses_remaining=e.uses_remaining)


def _registered(e: Any) -> msgspec.Struct:
    return NodeRegistered(node_id=e.originator_id, cluster_name=e.cluster_name,
                          id_type=e.id_type, version=e.agent_version,
                          self_update_enabled=e.self_update_enabled)


def _reregistered(e: Any) -> msgspec.Struct:
    return NodeReregistered(node_id=e.originator_id, cluster_name=e.cluster_name,
                            self_update_enabled=e.self_update_enabled,
                            reenrolled=e.enrollment_key_id is not None)


def _version_changed(e: Any) -> msgspec.Struct:
    return NodeVersionChanged(node_id=e.originator_id, cluster_name=e.cluster_name,
                              previous_version=e.previous, version=e.agent_version)


def _status_changed(e: Any) -> msgspec.Struct:
    return NodeStatusChanged(node_id=e.originator_id, cluster_name=e.cluster_name,
                             previous_status=e.previous, status=e.status, reason=e.reason)


def _cluster_changed(e: Any) -> msgspec.Struct:
    return NodeClusterChanged(node_id=e.originator_id,
                              previous_cluster_name=e.previous_cluster_name,
                              cluster_name=e.cluster_name)


def _update_triggered(e: Any) -> msgspec.Struct:
    return NodeUpdateTriggered(node_id=e.originator_id, cluster_name=e.cluster_name,
                               self_update_request_id=e.self_update_request_id)


def _execution(status: str) -> Callable[[Any], msgspec.Struct]:
    def payload(e: Any) -> msgspec.Struct:
        return CommandExecutionChanged(
            execution_id=e.originator_id, command_id=e.command_id, node_id=e.node_id,
            cluster_name=e.cluster_name, status=status,
            exit_code=getattr(e, "exit_code", None), reason=getattr(e, "reason", None),
        )

    return payload


def _ssh_checked(e: Any) -> msgspec.Struct:
    return SshUsernameVerified(ssh_username_id=e.ssh_username_id, node_id=e.node_id,
                               username=e.username, method=e.method, outcome=e.outcome,
                               fingerprint=e.fingerprint)


def _self_update_completed(e: Any) -> msgspec.Struct:
    return SelfUpdateRequestCompleted(self_update_request_id=e.originator_id, total=e.total,
                                      triggered=e.triggered, failed=e.failed)


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


PUBLIC_EVENTS: dict[type[Any], tuple[str, Callable[[Any], msgspec.Struct]]] = {
    EnrollmentKey.Used: ("edge.enrollment_key.verified", _key_verified),
    Node.Registered: ("edge.node.registered", _registered),
    Node.Revived: ("edge.node.registered", _registered),
    Node.Reregistered: ("edge.node.reregistered", _reregistered),
    Node.VersionChanged: ("edge.node.version_changed", _version_changed),
    Node.StatusChanged: ("edge.node.status_changed", _status_changed),
    Node.ClusterChanged: ("edge.node.cluster_changed", _cluster_changed),
    Node.UpdateTriggered: ("edge.node.update_triggered", _update_triggered),
    CommandExecution.Created: ("edge.command_execution.created", _execution("pending")),
    CommandExecution.Sent: ("edge.command_execution.sent", _execution("sent")),
    CommandExecution.Completed: ("edge.command_execution.completed", _execution("completed")),
    CommandExecution.Cancelled: ("edge.command_execution.cancelled", _execution("cancelled")),
    CommandExecution.Expired: ("edge.command_execution.expired", _execution("expired")),
    CommandExecution.Pruned: ("edge.command_execution.pruned", _execution("pruned")),
    SshLogin.Checked: ("edge.ssh_username.verified", _ssh_checked),
    SelfUpdateRequest.Completed: ("edge.self_update_request.completed", _self_update_completed),
    Deployment.Requested: ("edge.deployment.requested", _deployment("Status.SEEKING")),
    Deployment.Placed: ("edge.deployment.placed", _deployment("Status.DEPLOYING")),
    Deployment.Ready: ("edge.deployment.ready", _deployment("Status.READY")),
    Deployment.Failed: ("edge.deployment.error", _deployment("Status.ERROR")),
    # Its status is the one the stop found (READY or ERROR); the event carries it.
    Deployment.StopRequested: ("edge.deployment.stop_requested", _deployment("Status.READY")),
    Deployment.Terminated: ("edge.deployment.terminated", _deployment("Status.TERMINATED")),
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


def event_type(domain_event: Any) -> str | None:
    """The catalog type a stored domain event is published as, or None if it stays internal."""
    entry = PUBLIC_EVENTS.get(type(domain_event))
    return entry[0] if entry else None


def message_id(originator_id: UUID, originator_version: int) -> UUID:
    return uuid5(EDGE_NAMESPACE, f"event:{originator_id}:{originator_version}")


def to_message(domain_event: Any, position: int) -> Message | None:
    """The public message for a stored event (None for internal events)."""
    entry = PUBLIC_EVENTS.get(type(domain_event))
    if entry is None:
        return None
    kind, payload = entry
    return Message(
        id=message_id(domain_event.originator_id, domain_event.originator_version),
        type=kind,
        schema_version=SCHEMA_VERSION,
        source=SOURCE,
        position=position,
        occurred_at=domain_event.at,
        subject_id=domain_event.originator_id,
        data=payload(domain_event),
    )


def topics_for(types: tuple[str, ...]) -> tuple[type[Any], ...]:
    """Domain event classes that carry any of these catalog types."""
    return tuple(cls for cls, (kind, _) in PUBLIC_EVENTS.items() if kind in types)
