"""Read-model records to the seed's response shapes (derived names are computed, not stored).

The shapes are msgspec Structs: the handler returns them, msgspec encodes them, and the OpenAPI
document takes their schemas from the same classes (entrypoints/http/openapi/document.py), so a
response and its documentation cannot drift apart. Class names are the seed's schema names.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from domain.catalog import EVENT_TYPES
from domain.command_execution import ExecutionStatus
from domain.node import IdType
from domain.node_ports import DEFAULT_PORTS
from domain.node_status import NodeStatus
from domain.self_update import RequestStatus
from domain.shared import (
    alias_vpn_hostname,
    network_name,
    node_mdns_hostname,
    node_name,
    node_vpn_hostname,
    vpn_domain,
)
from domain.targeting import Targeting
from projections.command_tables import (
    CommandExecutionRecord,
    CommandRecord,
    SelfUpdateRequestRecord,
)
from projections.fleet_tables import AliasRecord, ClusterRecord, EnrollmentKeyRecord, NodeRecord
from projections.ssh_tables import SshPublicKeyRecord, SshUsernameRecord


def described(text: str, **more: Any) -> Meta:
    """A field's documentation, kept on the field itself."""
    return Meta(description=text, **more)


_d = described


Moment = Annotated[datetime, Meta(tz=True)]  # always UTC: documented as date-time
Created = Annotated[Moment, _d("When it was created")]
Updated = Annotated[Moment, _d("When it was last updated")]
Port = Annotated[int, Meta(ge=0, le=65535)]
EventType = Annotated[str, Meta(extra_json_schema={"enum": list(EVENT_TYPES)})]


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    """Response shapes: closed objects whose every field is always present."""


class Timestamped(Shape, kw_only=True):
    """The shape of a stored object, ending with when it was created and last updated.

    Keyword-only: msgspec puts these fields after those of the subclass, so they stay last on
    the wire and in the schema."""

    inserted_at: Created
    updated_at: Updated


class NodeSummary(Shape):
    """Summary of a node inside a cluster"""

    id: Annotated[UUID, _d("Node ID")]
    id_type: Annotated[IdType, _d("Node ID type")]
    status: Annotated[NodeStatus, _d("Node status")]
    vpn_hostname: Annotated[str, _d("DNS hostname for this node")]


class ClusterResponse(Timestamped):
    """An edge cluster"""

    id: Annotated[UUID, _d("Unique cluster identifier (use name for API operations)")]
    name: Annotated[str, _d("Cluster name - primary identifier used in API operations")]
    network_name: Annotated[str, _d("Netmaker network name (cluster-<name>)")]
    vpn_domain: Annotated[str, _d("DNS domain suffix for nodes in this cluster")]
    ipv4_range: Annotated[str, _d("IPv4 CIDR range for this cluster")]
    node_count: Annotated[int, _d("Number of nodes in this cluster")]
    node_limit: Annotated[int | None, _d("Maximum nodes allowed (null means no limit)")]
    nodes: Annotated[list[NodeSummary], _d("Nodes in this cluster")]


class EnrollmentKeyResponse(Timestamped):
    """An enrollment key of a cluster"""

    id: Annotated[UUID, _d("Enrollment key ID")]
    cluster_name: Annotated[str, _d("Cluster this key belongs to")]
    key: Annotated[str, _d("Enrollment key blob (base64 JSON). Set as ENROLLMENT_KEY on the "
                           "agent.")]
    name: Annotated[str | None, _d("Optional human-readable label (display only); null if "
                                   "unset")]
    uses_remaining: Annotated[int | None, _d("Remaining uses. null means unlimited.")]
    expired_at: Annotated[Moment | None, _d("Expiry datetime. null means never expires.")]
    last_used_at: Annotated[Moment | None, _d("When the key was last used. null if unused.")]


class NodeResponse(Timestamped):
    """A registered edge node"""

    id: Annotated[UUID, _d("Unique node identifier")]
    id_type: Annotated[IdType, _d("Type of node identifier")]
    node_name: Annotated[str, _d("Human-readable node name (node-<id>)")]
    mdns_hostname: Annotated[str, _d("mDNS hostname on the local LAN (node-<id>.local)")]
    vpn_hostname: Annotated[str, _d("DNS hostname for this node")]
    cluster_name: Annotated[str, _d("Name of the cluster this node belongs to")]
    status: Annotated[NodeStatus, _d("Current node status")]
    version: Annotated[str | None, _d("Agent version")]
    self_update_enabled: Annotated[bool, _d("Whether self-updates are enabled")]
    api_token: Annotated[str, _d("API token for agent authentication")]
    proxy_password: Annotated[str, _d("Password for proxy authentication (username is always "
                                      "'_')")]
    netmaker_host_id: Annotated[UUID | None, _d("Netmaker Host UUID for API operations")]
    http_port: Annotated[Port, _d("HTTP API port", examples=[DEFAULT_PORTS["http_port"]])]
    http_proxy_port: Annotated[Port, _d("HTTP proxy port",
                                        examples=[DEFAULT_PORTS["http_proxy_port"]])]
    socks5_proxy_port: Annotated[Port, _d("SOCKS5 proxy port",
                                          examples=[DEFAULT_PORTS["socks5_proxy_port"]])]
    ssh_port: Annotated[Port, _d("SSH port", examples=[DEFAULT_PORTS["ssh_port"]])]
    host_metrics_port: Annotated[Port, _d("Host metrics port (Node Exporter)",
                                          examples=[DEFAULT_PORTS["host_metrics_port"]])]
    wireguard_metrics_port: Annotated[Port, _d(
        "WireGuard metrics port (WireGuard Exporter)",
        examples=[DEFAULT_PORTS["wireguard_metrics_port"]])]
    last_seen_at: Annotated[Moment | None, _d("Last heartbeat timestamp from the node")]


class AliasResponse(Timestamped):
    """A DNS alias of a node"""

    id: Annotated[UUID, _d("Unique alias identifier")]
    name: Annotated[str, _d("Alias name (used in DNS)")]
    node_id: Annotated[UUID, _d("ID of the node this alias belongs to")]
    cluster_name: Annotated[str, _d("Name of the cluster")]
    vpn_hostname: Annotated[str, _d("Full DNS hostname (FQDN)")]


class CommandResponse(Timestamped):
    """A command: a shell script for the nodes its targeting resolved to at creation"""

    id: Annotated[UUID, _d("Unique command identifier")]
    command_text: Annotated[str, _d("Multi-line shell script/commands")]
    targeting: Annotated[Targeting, _d(
        "Targeting configuration used when creating this command (informational only, not "
        "filterable); node_ids and cluster_names deduplicated")]
    timeout: Annotated[int | None, _d("Command timeout in milliseconds (null means no timeout)")]
    expired_at: Annotated[Moment | None, _d(
        "Deadline after which pending/sent executions are automatically expired (immutable "
        "after creation)")]


class CommandExecutionResponse(Timestamped):
    """One command on one node"""

    id: Annotated[UUID, _d("Unique command execution identifier")]
    command_id: Annotated[UUID, _d("ID of the command being executed")]
    node_id: Annotated[UUID | None, _d(
        "ID of the target node; null once the node is deleted (the execution stays for "
        "history)")]
    cluster_name: Annotated[str | None, _d(
        "The cluster explicitly targeted when this execution was created. Only set when the "
        "command used clusters targeting against a single cluster — null for all, nodes, or "
        "multi-cluster targeting")]
    command_text: Annotated[str | None, _d("The command text being executed (denormalized)")]
    timeout: Annotated[int | None, _d("Command timeout in milliseconds (null means no timeout)")]
    expired_at: Annotated[Moment | None, _d(
        "The expiration deadline from the parent command (null if no expiration was set)")]
    status: Annotated[ExecutionStatus, _d(
        "Current execution status: pending -> sent -> completed | cancelled | expired (the "
        "last three are final)")]
    target_all: Annotated[bool, _d(
        "Whether this execution was created from a system-wide command")]
    sent_at: Annotated[Moment | None, _d("When the command was (last) handed to the agent")]
    completed_at: Annotated[Moment | None, _d("When the command execution was completed")]
    cancelled_at: Annotated[Moment | None, _d("When the command execution was cancelled")]
    exit_code: Annotated[int | None, _d(
        "Final exit code (0 = success, non-zero = failure; 143 = cancelled by the agent, "
        "124 = timed out, 137 = the agent stopped)")]
    output: Annotated[str | None, _d(
        "Combined stdout and stderr, at most 65,536 characters (head and tail kept around a "
        "marker when longer)")]


class SelfUpdateSummary(Shape):
    """What became of a completed self-update request"""

    total: Annotated[int, _d("Nodes the targeting resolved to")]
    triggered: Annotated[int, _d("Nodes told to update themselves")]
    failed: Annotated[int, _d("Nodes that could not be told (deleted, no longer healthy or "
                              "self-update switched off meanwhile)")]


class SelfUpdateRequestResponse(Timestamped):
    """A request for agents to update themselves"""

    id: Annotated[UUID, _d("Self-update request ID")]
    status: Annotated[RequestStatus, _d(
        "Request processing status: pending -> processing -> completed")]
    summary: Annotated[SelfUpdateSummary | None, _d(
        "Summary of results (total == triggered + failed); null until the request is "
        "completed")]
    targeting: Annotated[Targeting, _d(
        "Targeting configuration (same format as commands), with the implicit status=healthy "
        "and self_update_enabled=true filters merged into node_filters")]


class SshPublicKeyResponse(Timestamped):
    """A public key allowed to log in as its username"""

    id: Annotated[UUID, _d("SSH public key ID")]
    ssh_username_id: Annotated[UUID, _d("SSH username this key belongs to")]
    key_name: Annotated[str, _d("Human-readable name for the SSH key")]
    public_key: Annotated[str, _d(
        "SSH public key in OpenSSH format (algorithm base64data [comment]), normalised to "
        "single spaces")]
    # Not in the seed: lets operators match `ssh-keygen -l` output and audit events.
    fingerprint: Annotated[str, _d(
        "SHA256 fingerprint as `ssh-keygen -l` prints it (SHA256:...); not in the Edge Admin "
        "0.2.0 document")]


class SshUsernameResponse(Timestamped):
    """A login name on one node"""

    id: Annotated[UUID, _d("SSH username ID")]
    node_id: Annotated[UUID, _d("Node this username belongs to")]
    username: Annotated[str, _d("SSH username for node access")]
    has_password: Annotated[bool, _d(
        "Whether this username has a password configured for authentication (the Argon2id "
        "hash is never returned)")]
    public_keys: Annotated[list[SshPublicKeyResponse], _d(
        "SSH public keys associated with this username (always preloaded here; ordered by "
        "creation, then name)")]


# The shapes whose schemas the OpenAPI document takes from the classes themselves.
SHAPES = (NodeSummary, ClusterResponse, EnrollmentKeyResponse, NodeResponse, AliasResponse,
          CommandResponse, CommandExecutionResponse, SelfUpdateRequestResponse,
          SshUsernameResponse, SshPublicKeyResponse)


def node_summary(node: NodeRecord) -> NodeSummary:
    return NodeSummary(id=node.id, id_type=node.id_type, status=node.status,
                       vpn_hostname=node_vpn_hostname(node.id, node.cluster_name))


def cluster(record: ClusterRecord, nodes: list[NodeRecord]) -> ClusterResponse:
    return ClusterResponse(
        id=record.id, name=record.name, network_name=network_name(record.name),
        vpn_domain=vpn_domain(record.name), ipv4_range=record.ipv4_range,
        node_count=record.node_count, node_limit=record.node_limit,
        nodes=[node_summary(n) for n in nodes], inserted_at=record.inserted_at,
        updated_at=record.updated_at,
    )


def enrollment_key(record: EnrollmentKeyRecord) -> EnrollmentKeyResponse:
    return EnrollmentKeyResponse(
        id=record.id, cluster_name=record.cluster_name, key=record.key, name=record.name,
        uses_remaining=record.uses_remaining, expired_at=record.expired_at,
        last_used_at=record.last_used_at, inserted_at=record.inserted_at,
        updated_at=record.updated_at,
    )


def node(record: NodeRecord) -> NodeResponse:
    key = str(record.id)  # once, not per derived name (a list renders many)
    return NodeResponse(
        id=record.id, id_type=record.id_type, node_name=node_name(key),
        mdns_hostname=node_mdns_hostname(key),
        vpn_hostname=node_vpn_hostname(key, record.cluster_name),
        cluster_name=record.cluster_name, status=record.status,
        version=record.version, self_update_enabled=record.self_update_enabled,
        api_token=record.api_token, proxy_password=record.proxy_password,
        netmaker_host_id=record.netmaker_host_id, http_port=record.http_port,
        http_proxy_port=record.http_proxy_port, socks5_proxy_port=record.socks5_proxy_port,
        ssh_port=record.ssh_port, host_metrics_port=record.host_metrics_port,
        wireguard_metrics_port=record.wireguard_metrics_port, last_seen_at=record.last_seen_at,
        inserted_at=record.inserted_at, updated_at=record.updated_at,
    )


def alias(record: AliasRecord) -> AliasResponse:
    return AliasResponse(
        id=record.id, name=record.name, node_id=record.node_id,
        cluster_name=record.cluster_name,
        vpn_hostname=alias_vpn_hostname(record.name, record.cluster_name),
        inserted_at=record.inserted_at, updated_at=record.updated_at,
    )


def command(record: CommandRecord) -> CommandResponse:
    return CommandResponse(
        id=record.id, command_text=record.command_text,
        targeting=Targeting.from_dict(json.loads(record.targeting)),
        timeout=record.timeout, expired_at=record.expired_at, inserted_at=record.inserted_at,
        updated_at=record.updated_at,
    )


def command_execution(record: CommandExecutionRecord) -> CommandExecutionResponse:
    return CommandExecutionResponse(
        id=record.id, command_id=record.command_id, node_id=record.node_id,
        cluster_name=record.cluster_name, command_text=record.command_text,
        timeout=record.timeout, expired_at=record.expired_at,
        status=record.status, target_all=record.target_all,
        sent_at=record.sent_at, completed_at=record.completed_at,
        cancelled_at=record.cancelled_at, exit_code=record.exit_code, output=record.output,
        inserted_at=record.inserted_at, updated_at=record.updated_at,
    )


def _summary(record: SelfUpdateRequestRecord) -> SelfUpdateSummary | None:
    total, triggered, failed = record.total, record.triggered, record.failed
    if record.status != "completed" or total is None or triggered is None or failed is None:
        return None
    return SelfUpdateSummary(total=total, triggered=triggered, failed=failed)


def self_update_request(record: SelfUpdateRequestRecord) -> SelfUpdateRequestResponse:
    summary = _summary(record)
    return SelfUpdateRequestResponse(
        id=record.id, status=record.status, summary=summary,
        targeting=Targeting.from_dict(json.loads(record.targeting)), inserted_at=record.inserted_at,
        updated_at=record.updated_at,
    )


def ssh_public_key(record: SshPublicKeyRecord) -> SshPublicKeyResponse:
    return SshPublicKeyResponse(
        id=record.id, ssh_username_id=record.ssh_username_id, key_name=record.key_name,
        public_key=record.public_key, fingerprint=record.fingerprint,
        inserted_at=record.inserted_at, updated_at=record.updated_at,
    )


def ssh_username(record: SshUsernameRecord,
                 keys: list[SshPublicKeyRecord]) -> SshUsernameResponse:
    """password_hash stays inside: only whether there is one is shown."""
    return SshUsernameResponse(
        id=record.id, node_id=record.node_id, username=record.username,
        has_password=record.has_password, public_keys=[ssh_public_key(k) for k in keys],
        inserted_at=record.inserted_at, updated_at=record.updated_at,
    )
