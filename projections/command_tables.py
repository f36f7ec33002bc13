"""Tables of the Commands context (commands, their executions, self-update requests) and
their records."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from domain.command_execution import ExecutionStatus
from domain.self_update import RequestStatus
from projections.model import STAMPS, Join, Kind, Table, cols
from projections.records import Record

TXT, INT, BOOL, TIME, UID = Kind.TEXT, Kind.INT, Kind.BOOL, Kind.TIME, Kind.UUID

# targeting is stored as the JSON text the client sent (after dedup); it is only echoed back.
COMMANDS = Table(
    "commands", "id",
    cols(
        ("id", UID), ("command_text", TXT), ("targeting", TXT), ("timeout", INT),
        ("expired_at", TIME), ("execution_count", INT), *STAMPS,
    ),
    indexes=("inserted_at", "expired_at"),
)


class CommandRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = COMMANDS
    id: UUID
    command_text: str
    targeting: str  # JSON
    timeout: int | None
    expired_at: datetime | None
    execution_count: int
    inserted_at: datetime
    updated_at: datetime


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


class CommandExecutionRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = COMMAND_EXECUTIONS
    id: UUID
    command_id: UUID
    node_id: UUID | None
    node_cluster_name: str | None
    cluster_name: str | None
    target_all: bool
    command_text: str | None
    timeout: int | None
    expired_at: datetime | None
    status: ExecutionStatus
    cancel_requested: bool
    sent_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    exit_code: int | None
    output: str | None
    reason: str | None
    inserted_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None  # NULL: the node is gone


SELF_UPDATE_REQUESTS = Table(
    "self_update_requests", "id",
    cols(
        ("id", UID), ("targeting", TXT), ("status", TXT), ("total", INT), ("triggered", INT),
        ("failed", INT), *STAMPS,
    ),
    indexes=("status", "inserted_at"),
)


class SelfUpdateRequestRecord(Record, frozen=True, kw_only=True):
    TABLE: ClassVar[Table] = SELF_UPDATE_REQUESTS
    id: UUID
    targeting: str  # JSON
    status: RequestStatus
    total: int | None  # the three counts: None until the request is completed
    triggered: int | None
    failed: int | None
    inserted_at: datetime
    updated_at: datetime


COMMAND_RECORDS = (CommandRecord, CommandExecutionRecord, SelfUpdateRequestRecord)
