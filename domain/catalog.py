"""The public edge.* event catalog (Edge Admin `GET /event_types`, in catalog order) and which
domain events carry each type. Other domain events are internal."""

from __future__ import annotations

from typing import Any

from domain.enrollment_key import EnrollmentKey
from domain.node import Node

EVENT_TYPES: tuple[str, ...] = (
    "edge.enrollment_key.verified",
    "edge.node.registered",
    "edge.node.reregistered",
    "edge.node.version_changed",
    "edge.node.status_changed",
    "edge.node.cluster_changed",
    "edge.node.update_triggered",
    "edge.command_execution.created",
    "edge.command_execution.sent",
    "edge.command_execution.completed",
    "edge.command_execution.cancelled",
    "edge.command_execution.expired",
    "edge.command_execution.pruned",
    "edge.ssh_username.verified",
    "edge.self_update_request.completed",
)

PUBLIC_EVENTS: dict[type[Any], str] = {
    EnrollmentKey.Used: "edge.enrollment_key.verified",
    Node.Registered: "edge.node.registered",
    Node.Revived: "edge.node.registered",
    Node.Reregistered: "edge.node.reregistered",
    Node.VersionChanged: "edge.node.version_changed",
    Node.StatusChanged: "edge.node.status_changed",
    Node.ClusterChanged: "edge.node.cluster_changed",
}


def event_type(domain_event: Any) -> str | None:
    """The catalog type a stored domain event is published as, or None if it stays internal."""
    return PUBLIC_EVENTS.get(type(domain_event))
