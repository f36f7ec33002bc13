"""Read-model tables for applications, hosts (placement profiles) and deployments.

JSON-shaped values (ports, location, spec) are stored as JSON text; they are shown, never
filtered on. Tags are also kept as "|a|b|" so "has tag" is a glob, as for webhook event types.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.node_status import NodeStatus
from projections.model import Join, Kind, Table, cols
from projections.records import Record, table_of

# Tables that do not come from events (agents' reports) have no record: their columns are listed.
TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID


# Each record is its table's one declaration: table_of derives the columns from its fields, in
# the order the tables had when they were listed by hand (the fleet fingerprint pins it).
# A column that may be NULL defaults to None: a row is written before the events that fill
# such columns, and a view may leave them out of it (the memory view does).
class AppRecord(Record, frozen=True, kw_only=True):
    id: UUID
    name: str
    version_count: int
    deleted: bool
    inserted_at: datetime
    updated_at: datetime


# A deleted application keeps its row (deleted = true) until its name is used again: the
# row is the only place its name is known to a later App.Restored.
APPS = table_of(AppRecord, "apps", indexes=("name", "inserted_at"))


class AppVersionRecord(Record, frozen=True, kw_only=True):
    id: UUID
    app_name: str
    name: str
    image: str
    ports: str  # JSON
    cpu_units: int
    memory_mb: int
    env: str  # JSON
    max_duration: int
    command: str | None = None
    arguments: str | None = None
    inserted_at: datetime


APP_VERSIONS = table_of(AppVersionRecord, "app_versions",
                        indexes=("app_name, name", "inserted_at"))
# Images a node holds, as its agent last reported them ("|image|image|"); not from events.
NODE_IMAGES = Table(
    "node_images", "node_id", cols(("node_id", UID), ("images", TXT)), owned=False,
)


class HostRecord(Record, frozen=True, kw_only=True):
    node_id: UUID
    fleet: str | None = None
    location: str | None = None  # JSON
    cpu_units: int
    memory_mb: int
    allocated_cpu_units: int
    allocated_memory_mb: int
    deployment_count: int
    inserted_at: datetime
    updated_at: datetime
    # joined: the node's (None once the node row is gone) and the images its agent reported
    status: NodeStatus | None = None
    cluster_name: str | None = None
    images: str | None = None  # "|image|image|"


HOSTS = table_of(
    HostRecord, "hosts", key="node_id", indexes=("fleet", "inserted_at"),
    joins=(
        Join("nodes", "node_id", "id", cols(("status", TXT), ("cluster_name", TXT))),
        Join("node_images", "node_id", "node_id", cols(("images", TXT))),
    ),
)


class DeploymentRecord(Record, frozen=True, kw_only=True):
    request_id: str
    id: UUID
    app_name: str
    app_version: str
    status: str
    last_status: str | None = None
    node_id: UUID | None = None
    error: bool
    error_detail: str | None = None
    start_time: datetime
    ready_at: datetime | None = None
    removal_time: datetime | None = None
    ports: str | None = None  # JSON
    public_ip: str | None = None
    location: str | None = None  # JSON
    tags: str | None = None
    spec: str  # JSON
    stopping: str | None = None
    stop_pending: str | None = None
    delete_token: str | None = None
    max_duration: int
    exit_code: int | None = None
    updated_at: datetime


DEPLOYMENTS = table_of(
    DeploymentRecord, "deployments", key="request_id",
    indexes=("id", "status", "node_id", "app_name, app_version", "start_time"),
)


class DeploymentTagRecord(Record, frozen=True, kw_only=True):
    id: UUID
    deployment_id: UUID
    name: str
    create_time: datetime
    last_updated: datetime


DEPLOYMENT_TAGS = table_of(DeploymentTagRecord, "deployment_tags",
                           indexes=("deployment_id, name",))

# What agents send about running containers (not events): the latest log tail, the logs of a
# crash, and periodic resource samples for the metrics endpoint.
DEPLOYMENT_LOGS = Table(
    "deployment_logs", "request_id",
    cols(("request_id", TXT), ("logs", TXT), ("crash_logs", TXT), ("exit_code", INT),
         ("updated_at", TIME)),
    owned=False,
)
DEPLOYMENT_SAMPLES = Table(
    "deployment_samples", "id",
    cols(("id", UID), ("request_id", TXT), ("at", TIME), ("cpu_percent", TXT),
         ("memory_bytes", INT), ("receive_total", INT), ("transmit_total", INT),
         ("disk_read_total", INT), ("disk_write_total", INT)),
    indexes=("request_id, at",),
    owned=False,
)

# What an agent said while it started a deployment (pull, start, each health probe's result:
# entrypoints/agent/start_progress.py), at most MAX_PROGRESS lines each (application/
# container_telemetry.py); `at` is the admin's clock when the line came in, `sequence` its
# place in the deployment's lines (from 1, in the order they were committed: what a stream
# follows, since one admin's clock may be behind another's).
DEPLOYMENT_PROGRESS = Table(
    "deployment_progress", "id",
    cols(("id", UID), ("request_id", TXT), ("at", TIME), ("phase", TXT), ("level", TXT),
         ("message", TXT), ("sequence", INT)),
    indexes=("request_id, sequence", "at"),
    owned=False,
)

# How many lines of a deployment's log each source holds, kept as they are stored (Appaloft's
# logCount, read with the attempt: no count per deployment at read time): the agent's progress
# lines, and the lines shown of the container's last log tail and of its crash (the crash's
# when it had one). Aged with what it counts: a line's time is never later than its count's.
DEPLOYMENT_LOG_COUNTS = Table(
    "deployment_log_counts", "request_id",
    cols(("request_id", TXT), ("progress_lines", INT), ("log_lines", INT), ("crash_lines", INT),
         ("updated_at", TIME)),
    owned=False,
)
CONTAINER_LINES = 1000  # of a container's log tail a deployment's log shows, the last ones


def container_lines(text: str) -> int:
    """How many lines of this container output a deployment's log shows."""
    return min(len(text.splitlines()), CONTAINER_LINES)


# A deployment's webhook_on_<kind> URLs, with the secret their deliveries are signed with.
class DeploymentHookRecord(Record, frozen=True, kw_only=True):
    id: UUID
    request_id: str
    kind: str
    url: str
    secret: str | None = None  # sealed


DEPLOYMENT_HOOKS = table_of(DeploymentHookRecord, "deployment_hooks", indexes=("request_id",))

DEPLOYMENT_TABLES = (APPS, APP_VERSIONS, NODE_IMAGES, HOSTS, DEPLOYMENTS, DEPLOYMENT_TAGS,
                     DEPLOYMENT_LOGS, DEPLOYMENT_SAMPLES, DEPLOYMENT_PROGRESS,
                     DEPLOYMENT_LOG_COUNTS, DEPLOYMENT_HOOKS)
DEPLOYMENT_RECORDS: tuple[type[Record], ...] = (
    AppRecord, AppVersionRecord, HostRecord, DeploymentRecord, DeploymentTagRecord,
    DeploymentHookRecord,
)
