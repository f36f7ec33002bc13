"""Tables of the fleet read model: clusters, keys, nodes, aliases, liveness, webhooks, commands,
SSH access."""

from __future__ import annotations

from projections.deployment_tables import DEPLOYMENT_TABLES
from projections.model import Column, Join, Kind, Table
from projections.status import FAILURES
from projections.versioning import META, ReadModelVersion, fingerprint

TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


def cols(*spec: tuple[str, Kind]) -> tuple[Column, ...]:
    return tuple(Column(n, k) for n, k in spec)


STAMPS = (("inserted_at", TIME), ("updated_at", TIME))
PORTS = (
    "http_port", "http_proxy_port", "socks5_proxy_port", "ssh_port", "host_metrics_port",
    "wireguard_metrics_port",
)

CLUSTERS = Table(
    "clusters", "id",
    cols(
        ("id", UID), ("name", TXT), ("ipv4_range", TXT), ("node_limit", INT), ("node_count", INT),
        *STAMPS,
    ),
    indexes=("name", "inserted_at"),
)
ENROLLMENT_KEYS = Table(
    "enrollment_keys", "id",
    cols(
        ("id", UID), ("cluster_id", UID), ("cluster_name", TXT), ("key", TXT), ("name", TXT),
        ("uses_remaining", INT), ("expired_at", TIME), ("last_used_at", TIME), *STAMPS,
    ),
    indexes=("cluster_id", "key", "inserted_at"),
)
NODE_LIVENESS = Table(
    "node_liveness", "node_id", cols(("node_id", UID), ("last_seen_at", TIME)), owned=False,
)
NODES = Table(
    "nodes", "id",
    cols(
        ("id", UID), ("cluster_id", UID), ("cluster_name", TXT), ("id_type", TXT),
        ("api_token", TXT), ("proxy_password", TXT), ("status", TXT), ("version", TXT),
        ("self_update_enabled", BOOL), ("update_request_id", UID),
        ("netmaker_host_id", UID), *((p, INT) for p in PORTS), *STAMPS,
    ),
    indexes=("cluster_id", "cluster_name", "api_token", "status", "inserted_at"),
    joins=(Join("node_liveness", "id", "node_id", cols(("last_seen_at", TIME))),),
)
ALIASES = Table(
    "aliases", "id",
    cols(
        ("id", UID), ("node_id", UID), ("cluster_id", UID), ("cluster_name", TXT), ("name", TXT),
        *STAMPS,
    ),
    indexes=("node_id", "cluster_name", "inserted_at"),
)

# subscribed_events is stored as "|type|type|" so "contains" is the glob *|type|* everywhere.
WEBHOOKS = Table(
    "webhooks", "id",
    cols(
        ("id", UID), ("url", TXT), ("subscribed_events", TXT), ("sealed_secret", TXT),
        ("sealed_headers", TXT), ("created_position", INT), *STAMPS,
    ),
    indexes=("inserted_at",),
)

# targeting is stored as the JSON text the client sent (after dedup); it is only echoed back.
COMMANDS = Table(
    "commands", "id",
    cols(
        ("id", UID), ("command_text", TXT), ("targeting", TXT), ("timeout", INT),
        ("expired_at", TIME), ("execution_count", INT), *STAMPS,
    ),
    indexes=("inserted_at", "expired_at"),
)
# node_id becomes NULL when the node is deleted (history stays); node_cluster_name follows the
# node's moves (the seed's cluster_name filter), cluster_name is the cluster the command named.
# The liveness join tells whether the node still exists (its row goes with the node).
COMMAND_EXECUTIONS = Table(
    "command_executions", "id",
    cols(
        ("id", UID), ("command_id", UID), ("node_id", UID), ("node_cluster_name", TXT),
        ("cluster_name", TXT), ("target_all", BOOL), ("command_text", TXT), ("timeout", INT),
        ("expired_at", TIME), ("status", TXT), ("cancel_requested", BOOL), ("sent_at", TIME),
        ("completed_at", TIME), ("cancelled_at", TIME), ("exit_code", INT), ("output", TXT),
        ("reason", TXT), *STAMPS,
    ),
    # command_id + the default order: a command's page of executions without a sort.
    indexes=("command_id, inserted_at, id", "node_id", "status", "expired_at", "inserted_at"),
    joins=(Join("node_liveness", "node_id", "node_id", cols(("last_seen_at", TIME))),),
)
SELF_UPDATE_REQUESTS = Table(
    "self_update_requests", "id",
    cols(
        ("id", UID), ("targeting", TXT), ("status", TXT), ("total", INT), ("triggered", INT),
        ("failed", INT), *STAMPS,
    ),
    indexes=("status", "inserted_at"),
)

# Usernames never change after creation; cluster_name follows the node through the join.
# password_hash is internal (login checks); the API shows only has_password.
_NODE_CLUSTER = (Join("nodes", "node_id", "id", cols(("cluster_name", TXT))),)
SSH_USERNAMES = Table(
    "ssh_usernames", "id",
    cols(
        ("id", UID), ("node_id", UID), ("username", TXT), ("password_hash", TXT),
        ("has_password", BOOL), *STAMPS,
    ),
    indexes=("node_id, username", "inserted_at"),
    joins=_NODE_CLUSTER,
)
SSH_PUBLIC_KEYS = Table(
    "ssh_public_keys", "id",
    cols(
        ("id", UID), ("ssh_username_id", UID), ("node_id", UID), ("username", TXT),
        ("key_name", TXT), ("public_key", TXT), ("algorithm", TXT), ("fingerprint", TXT),
        *STAMPS,
    ),
    indexes=("ssh_username_id, fingerprint", "node_id", "inserted_at"),
    joins=_NODE_CLUSTER,
)

# Admin processes (membership events) and their check-ins (liveness, not events).
ADMINS = Table(
    "admins", "id",
    cols(
        ("id", UID), ("admin_id", TXT), ("name", TXT), ("admin_cluster_name", TXT),
        ("max_peers", INT), ("url", TXT), ("present", BOOL), ("joined_at", TIME),
    ),
    joins=(Join("admin_checkins", "id", "admin_id", cols(("last_checked_in", TIME))),),
)
ADMIN_CHECKINS = Table(
    "admin_checkins", "admin_id", cols(("admin_id", UID), ("last_checked_in", TIME)),
    owned=False,
)
# Each node's latest agent report (JSON text); replaced on every report, never replayed.
NODE_METRICS = Table(
    "node_metrics", "node_id",
    cols(("node_id", UID), ("received_at", TIME), ("host", TXT), ("agent", TXT)),
    owned=False,
)

FLEET_TABLES = (
    CLUSTERS, ENROLLMENT_KEYS, NODE_LIVENESS, NODES, ALIASES, WEBHOOKS, COMMANDS,
    COMMAND_EXECUTIONS, SELF_UPDATE_REQUESTS, SSH_USERNAMES, SSH_PUBLIC_KEYS, ADMIN_CHECKINS,
    ADMINS, NODE_METRICS, *DEPLOYMENT_TABLES, FAILURES, META,
)
# Raise by one when an owned table changes shape or a handler changes what it writes for events
# already recorded: the first start of the new release rebuilds the read model from the log.
# 2: apps keep a deleted application's row (App.Restored names no application).
FLEET_VERSION = ReadModelVersion("fleet", 2, fingerprint(FLEET_TABLES))


def join_events(types: list[str]) -> str:
    return "|" + "|".join(types) + "|"


def split_events(stored: str) -> list[str]:
    return [t for t in stored.split("|") if t]
