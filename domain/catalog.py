"""The public edge.* event catalog: its types in catalog order, the `Message` envelope every
subscriber receives, and `to_message`, which turns a stored domain event into the message NATS
subscribers, webhooks and streams receive. The payloads, and which stored events carry them, live
with their bounded contexts (catalog_fleet.py, catalog_workloads.py); this module assembles them.

Payload structs are the public contract (AsyncAPI and schemas/events are generated from them):
add optional fields freely; anything else needs a new schema_version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
from uuid import UUID, uuid5

import msgspec

from domain import catalog_fleet, catalog_workloads
from domain.catalog_fleet import (
    EnrollmentKeyVerified,
    NodeClusterChanged,
    NodeRegistered,
    NodeReregistered,
    NodeStatusChanged,
    NodeUpdateTriggered,
    NodeVersionChanged,
    SelfUpdateRequestCompleted,
    SshUsernameVerified,
)
from domain.catalog_workloads import (
    CommandExecutionChanged,
    DeploymentChanged,
    EnvironmentChanged,
    ProjectChanged,
    ResourceChanged,
    ResourceRollbackDecided,
    RuntimeControlChanged,
)
from domain.shared import EDGE_NAMESPACE

SCHEMA_VERSION = 1
SOURCE = "edge-admin"

# Catalog order is published (GET /api/v1/event_types, the AsyncAPI channels): keep it stable.
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
    "edge.deployment.archived": DeploymentChanged,
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
    "edge.environment.deleted": EnvironmentChanged,
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


# Stored event class -> the catalog type it is published as, and the payload made from it.
PUBLIC_EVENTS: dict[type[Any], tuple[str, Callable[[Any], msgspec.Struct]]] = {
    **catalog_fleet.EVENTS, **catalog_workloads.EVENTS,
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
