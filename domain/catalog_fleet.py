"""The fleet's part of the edge.* catalog: the nodes themselves (enrollment, membership, status
and version), SSH logins to them and their self-updates. Each payload struct, how a stored event
becomes it, and which stored events are published as which type; domain/catalog.py assembles
the catalog from this module and catalog_workloads.py.

Payload structs are the public contract: add optional fields freely; anything else needs a new
schema_version (domain/catalog.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec

from domain.enrollment_key import EnrollmentKey
from domain.node import Node
from domain.self_update import SelfUpdateRequest
from domain.ssh_access import SshLogin


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


def _ssh_checked(e: Any) -> msgspec.Struct:
    return SshUsernameVerified(ssh_username_id=e.ssh_username_id, node_id=e.node_id,
                               username=e.username, method=e.method, outcome=e.outcome,
                               fingerprint=e.fingerprint)


def _self_update_completed(e: Any) -> msgspec.Struct:
    return SelfUpdateRequestCompleted(self_update_request_id=e.originator_id, total=e.total,
                                      triggered=e.triggered, failed=e.failed)


EVENTS: dict[type[Any], tuple[str, Callable[[Any], msgspec.Struct]]] = {
    EnrollmentKey.Used: ("edge.enrollment_key.verified", _key_verified),
    Node.Registered: ("edge.node.registered", _registered),
    Node.Revived: ("edge.node.registered", _registered),
    Node.Reregistered: ("edge.node.reregistered", _reregistered),
    Node.VersionChanged: ("edge.node.version_changed", _version_changed),
    Node.StatusChanged: ("edge.node.status_changed", _status_changed),
    Node.ClusterChanged: ("edge.node.cluster_changed", _cluster_changed),
    Node.UpdateTriggered: ("edge.node.update_triggered", _update_triggered),
    SshLogin.Checked: ("edge.ssh_username.verified", _ssh_checked),
    SelfUpdateRequest.Completed: ("edge.self_update_request.completed", _self_update_completed),
}
