"""Tables of the fleet read model (clusters, keys, nodes, aliases, liveness, admins) with the
records of the Nodes context, and the list of every table the fleet view holds."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.node import IdType
from domain.node_status import NodeStatus
from projections.command_tables import (
    COMMAND_EXECUTIONS,
    COMMAND_RECORDS,
    COMMANDS,
    SELF_UPDATE_REQUESTS,
)
from projections.deployment_tables import DEPLOYMENT_RECORDS, DEPLOYMENT_TABLES
from projections.model import Join, Kind, Table, cols
from projections.records import Record, table_of
from projections.resource_health_tables import HEALTH_TABLES
from projections.resource_tables import RESOURCE_RECORDS, RESOURCE_TABLES
from projections.runtime_controls import RUNTIME_RECORDS, RUNTIME_TABLES
from projections.runtime_logs import RUNTIME_LOG_TABLES
from projections.ssh_tables import SSH_PUBLIC_KEYS, SSH_RECORDS, SSH_USERNAMES
from projections.status import FAILURES
from projections.versioning import META, ReadModelVersion, fingerprint
from projections.webhook_tables import WEBHOOK_RECORDS, WEBHOOKS

TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


# Each record is its table's one declaration: table_of derives the columns from its fields.
class ClusterRecord(Record, frozen=True, kw_only=True):
    id: UUID
    name: str
    ipv4_range: str
    node_limit: int | None
    node_count: int
    inserted_at: datetime
    updated_at: datetime


CLUSTERS = table_of(ClusterRecord, "clusters", indexes=("name", "inserted_at"))


class EnrollmentKeyRecord(Record, frozen=True, kw_only=True):
    id: UUID
    cluster_id: UUID
    cluster_name: str
    key: str
    name: str | None
    uses_remaining: int | None  # None: unlimited
    expired_at: datetime | None
    last_used_at: datetime | None
    inserted_at: datetime
    updated_at: datetime


ENROLLMENT_KEYS = table_of(EnrollmentKeyRecord, "enrollment_keys",
                           indexes=("cluster_id", "key", "inserted_at"))
NODE_LIVENESS = Table(
    "node_liveness", "node_id", cols(("node_id", UID), ("last_seen_at", TIME)), owned=False,
)


class NodeRecord(Record, frozen=True, kw_only=True):
    id: UUID
    cluster_id: UUID
    cluster_name: str
    id_type: IdType
    api_token: str
    proxy_password: str
    status: NodeStatus
    version: str | None
    self_update_enabled: bool
    update_request_id: UUID | None
    netmaker_host_id: UUID | None
    http_port: int
    http_proxy_port: int
    socks5_proxy_port: int
    ssh_port: int
    host_metrics_port: int
    wireguard_metrics_port: int
    inserted_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None


NODES = table_of(
    NodeRecord, "nodes",
    indexes=("cluster_id", "cluster_name", "api_token", "status", "inserted_at"),
    joins=(Join("node_liveness", "id", "node_id", cols(("last_seen_at", TIME))),),
)


class AliasRecord(Record, frozen=True, kw_only=True):
    id: UUID
    node_id: UUID
    cluster_id: UUID
    cluster_name: str
    name: str
    inserted_at: datetime
    updated_at: datetime


ALIASES = table_of(AliasRecord, "aliases", indexes=("node_id", "cluster_name", "inserted_at"))
# Admin processes (membership events) and their check-ins (liveness, not events).
class AdminRecord(Record, frozen=True, kw_only=True):
    id: UUID
    admin_id: str
    name: str
    admin_cluster_name: str
    max_peers: int
    url: str
    present: bool  # False once it left cleanly
    joined_at: datetime
    last_checked_in: datetime | None = None  # joined: None until its first check-in


ADMINS = table_of(AdminRecord, "admins", joins=(
    Join("admin_checkins", "id", "admin_id", cols(("last_checked_in", TIME))),))
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
    ADMINS, NODE_METRICS, *DEPLOYMENT_TABLES, *RESOURCE_TABLES, *RUNTIME_TABLES,
    *RUNTIME_LOG_TABLES, FAILURES, META, *HEALTH_TABLES,
)
# Raise by one when an owned table changes shape or a handler changes what it writes for events
# already recorded: the first start of the new release rebuilds the read model from the log.
# 2: apps keep a deleted application's row (App.Restored names no application).
# 3: a renamed deployment tag keeps its row (id and create_time); rows are found by name.
# 4: projects, environments, resources, their variables and deployment attempts (issue 17).
# 5: resources.automatic_rollback (the rollback policy); runtime controls of resources and
#    the runtime each deployment should have, and the lines running containers write; the
#    agents' health observations (issue 17).
# 6: deployment_attempts.failure_reported (who decided a failure: its node or the admin).
# 7: config_variables.sealed_value (a secret as sealed, for the environment diff);
#    environments.parent_environment_id (what a clone or promotion came from).
# 8: deployment_attempts.archived_at (Deployment.Archived: Appaloft's archive of an attempt).
#    A deleted project's environments leave the environments table with it (they stayed
#    listed as active).
FLEET_VERSION = ReadModelVersion("fleet", 8, fingerprint(FLEET_TABLES))

# Every record of a fleet table (tests/unit/projections/test_records.py holds each to its table).
FLEET_RECORDS: tuple[type[Record], ...] = (
    ClusterRecord, EnrollmentKeyRecord, NodeRecord, AliasRecord, AdminRecord, *WEBHOOK_RECORDS,
    *COMMAND_RECORDS, *SSH_RECORDS, *RESOURCE_RECORDS, *DEPLOYMENT_RECORDS, *RUNTIME_RECORDS,
)

