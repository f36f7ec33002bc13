"""Tables of the Resources context (Appaloft's projects, environments, resources, their
variables and the attempts of deployments of resources) and their records.

Secrets reach these tables only sealed: a variable row of a secret holds no value, only the
value as sealed in its event (opened by the application alone), and an attempt's
snapshot is stored masked (domain/variables.py: masked). JSON-shaped values (args, health
policy, snapshot) are stored as JSON text; they are shown, never filtered on. An attempt keeps
its lifecycle events as columns (`<kind>_seq`, `<kind>_at`): a Deployment emits each of them at
most once, and a column can be set by a plain Patch, which touches no row of a deployment that
is not a resource's (those have no attempt row).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.deployment_attempt import AttemptStatus
from projections.deployment_tables import DEPLOYMENT_LOG_COUNTS
from projections.model import Join
from projections.records import Record, table_of


class ProjectRecord(Record, frozen=True, kw_only=True):
    id: UUID
    name: str
    slug: str
    description: str
    lifecycle_status: str  # active | archived
    archived_at: datetime | None
    archive_reason: str | None
    inserted_at: datetime
    updated_at: datetime


PROJECTS = table_of(ProjectRecord, "projects", indexes=("slug", "inserted_at"))


class EnvironmentRecord(Record, frozen=True, kw_only=True):
    id: UUID
    project_id: UUID
    name: str
    kind: str
    parent_environment_id: UUID | None  # cloned or promoted from
    lifecycle_status: str  # active | locked | archived
    locked_at: datetime | None
    lock_reason: str | None
    archived_at: datetime | None
    archive_reason: str | None
    inserted_at: datetime
    updated_at: datetime


ENVIRONMENTS = table_of(EnvironmentRecord, "environments",
                        indexes=("project_id", "inserted_at"))


# One row per (owner, exposure, key); `scope` names the owner's layer (environment, resource).
class VariableRecord(Record, frozen=True, kw_only=True):
    id: UUID
    owner_id: UUID
    scope: str
    key: str
    exposure: str
    kind: str
    is_secret: bool
    plain_value: str | None  # None for a secret
    # A secret's value as sealed in its event (None for a plain one): only the application
    # opens it, to compare two environments' secrets (environment diff) without showing them.
    sealed_value: str | None
    updated_at: datetime


VARIABLES = table_of(VariableRecord, "config_variables", indexes=("owner_id, exposure, key",))


class ResourceRecord(Record, frozen=True, kw_only=True):
    id: UUID
    project_id: UUID
    environment_id: UUID
    name: str
    slug: str
    kind: str
    description: str
    image: str | None
    command: str | None
    args: str  # JSON list
    internal_port: int | None
    protocol: str
    health: str  # JSON: the full policy (domain/resource_profiles.py: DEFAULT_HEALTH's keys)
    automatic_rollback: bool
    lifecycle_status: str  # active | archived
    archived_at: datetime | None
    deployment_count: int
    last_deployment_id: UUID | None
    active_deployment_id: UUID | None  # the attempt not settled yet
    serving_deployment_id: UUID | None  # the last healthy one
    inserted_at: datetime
    updated_at: datetime


RESOURCES = table_of(ResourceRecord, "resources",
                     indexes=("project_id", "environment_id", "inserted_at"))


# The Deployment events an attempt's timeline shows, by the column prefix that holds each.
TIMELINE = {"Requested": "requested", "Placed": "placed", "Ready": "ready", "Failed": "failed",
            "StopDeferred": "stop_deferred", "StopRequested": "stop_requested",
            "Terminated": "terminated"}

class AttemptRecord(Record, frozen=True, kw_only=True):
    id: UUID
    request_id: str
    project_id: UUID
    environment_id: UUID
    resource_id: UUID
    server_id: UUID | None
    trigger_kind: str  # create | redeploy | retry | rollback
    source_deployment_id: UUID | None
    rollback_candidate_id: UUID | None
    is_rollback: bool
    status: AttemptStatus
    snapshot: str  # JSON, secrets masked
    error_detail: str | None
    # Whether its node reported the failure (False: the admin decided it); None: not failed.
    failure_reported: bool | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    requested_seq: int | None
    requested_at: datetime | None
    placed_seq: int | None
    placed_at: datetime | None
    ready_seq: int | None
    ready_at: datetime | None
    failed_seq: int | None
    failed_at: datetime | None
    stop_deferred_seq: int | None
    stop_deferred_at: datetime | None
    stop_requested_seq: int | None
    stop_requested_at: datetime | None
    terminated_seq: int | None
    terminated_at: datetime | None
    archived_at: datetime | None  # archived (terminal only): hidden from lists unless asked
    updated_at: datetime
    # What its log holds besides its lifecycle (deployment_log_counts: agents' reports, no
    # events); None before any.
    progress_lines: int | None = None
    log_lines: int | None = None
    crash_lines: int | None = None


ATTEMPTS = table_of(AttemptRecord, "deployment_attempts",
                    indexes=("resource_id", "project_id", "server_id", "status", "created_at"),
                    joins=(Join(DEPLOYMENT_LOG_COUNTS.name, "request_id", "request_id", tuple(
                        c for c in DEPLOYMENT_LOG_COUNTS.columns
                        if c.name.endswith("_lines"))),))


RESOURCE_TABLES = (PROJECTS, ENVIRONMENTS, VARIABLES, RESOURCES, ATTEMPTS)
RESOURCE_RECORDS = (ProjectRecord, EnvironmentRecord, VariableRecord, ResourceRecord,
                    AttemptRecord)
