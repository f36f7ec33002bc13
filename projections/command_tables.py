"""Tables of the Commands context (commands, their executions, self-update requests) and
their records."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.command_execution import ExecutionStatus
from domain.self_update import RequestStatus
from projections.model import Join, Kind, cols
from projections.records import Record, table_of


# targeting is stored as the JSON text the client sent (after dedup); it is only echoed back.
class CommandRecord(Record, frozen=True, kw_only=True):
    id: UUID
    command_text: str
    targeting: str  # JSON
    timeout: int | None
    expired_at: datetime | None
    execution_count: int
    inserted_at: datetime
    updated_at: datetime


COMMANDS = table_of(CommandRecord, "commands", indexes=("inserted_at", "expired_at"))


# node_id becomes NULL when the node is deleted (history stays); node_cluster_name follows the
# node's moves (the seed's cluster_name filter), cluster_name is the cluster the command named.
# The liveness join tells whether the node still exists (its row goes with the node).
class CommandExecutionRecord(Record, frozen=True, kw_only=True):
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


COMMAND_EXECUTIONS = table_of(
    CommandExecutionRecord, "command_executions",
    # command_id + the default order: a command's page of executions without a sort.
    indexes=("command_id, inserted_at, id", "node_id", "status", "expired_at", "inserted_at"),
    joins=(Join("node_liveness", "node_id", "node_id", cols(("last_seen_at", Kind.TIME))),),
)


class SelfUpdateRequestRecord(Record, frozen=True, kw_only=True):
    id: UUID
    targeting: str  # JSON
    status: RequestStatus
    total: int | None  # the three counts: None until the request is completed
    triggered: int | None
    failed: int | None
    inserted_at: datetime
    updated_at: datetime


SELF_UPDATE_REQUESTS = table_of(SelfUpdateRequestRecord, "self_update_requests",
                                indexes=("status", "inserted_at"))


COMMAND_RECORDS = (CommandRecord, CommandExecutionRecord, SelfUpdateRequestRecord)
