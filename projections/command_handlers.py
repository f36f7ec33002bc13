"""Read-model changes for commands, executions and self-update requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from domain.command import Command
from domain.command_execution import NODE_DELETED, CommandExecution
from domain.node import Node
from domain.self_update import SelfUpdateRequest
from projections.model import Change, Delete, Patch, Upsert

Handler = Callable[[Any], list[Change]]


def _by_id(e: Any) -> dict[str, Any]:
    return {"id": e.originator_id}


def _command_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "command_text": e.command_text,
           "targeting": json.dumps(e.targeting, sort_keys=True), "timeout": e.timeout,
           "expired_at": e.expired_at, "execution_count": len(e.node_ids),
           "inserted_at": e.at, "updated_at": e.at}
    return [Upsert("commands", row)]


def _execution_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "command_id": e.command_id, "node_id": e.node_id,
           "node_cluster_name": e.node_cluster_name, "cluster_name": e.cluster_name,
           "target_all": e.target_all, "command_text": e.command_text, "timeout": e.timeout,
           "expired_at": e.expired_at, "status": "pending", "cancel_requested": False,
           "sent_at": None, "completed_at": None, "cancelled_at": None, "exit_code": None,
           "output": None, "reason": None, "inserted_at": e.at, "updated_at": e.at}
    return [Upsert("command_executions", row)]


def _patch(table: str, **fields: Callable[[Any], Any]) -> Handler:
    """Handler setting each column to its function of the event, on the event's own row."""

    def handle(e: Any) -> list[Change]:
        values = {name: get(e) for name, get in fields.items()}
        return [Patch(table, _by_id(e), {**values, "updated_at": e.at})]

    return handle


_execution = partial(_patch, "command_executions")
_request_patch = partial(_patch, "self_update_requests")


def _at(e: Any) -> Any:
    return e.at


def _const(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def _cancelled(e: Any) -> list[Change]:
    fields = {"status": "cancelled", "cancelled_at": e.at, "exit_code": e.exit_code,
              "output": e.output, "reason": e.reason, "updated_at": e.at}
    if e.reason == NODE_DELETED:
        # Also covers an execution created just after its node was deleted (a race the
        # node's own deletion cannot see): its row still named the node.
        fields["node_id"] = None
    return [Patch("command_executions", _by_id(e), fields)]


def _request_created(e: Any) -> list[Change]:
    row = {"id": e.originator_id, "targeting": json.dumps(e.targeting, sort_keys=True),
           "status": "pending", "total": None, "triggered": None, "failed": None,
           "inserted_at": e.at, "updated_at": e.at}
    return [Upsert("self_update_requests", row)]


def _node_deleted(e: Any) -> list[Change]:
    # The seed keeps executions for history with node_id set to NULL.
    return [Patch("command_executions", {"node_id": e.originator_id}, {"node_id": None})]


def _node_moved(e: Any) -> list[Change]:
    return [Patch("command_executions", {"node_id": e.originator_id},
                  {"node_cluster_name": e.cluster_name})]


def _node_update(request_id: Callable[[Any], Any]) -> Handler:
    def handle(e: Any) -> list[Change]:
        return [Patch("nodes", _by_id(e), {"update_request_id": request_id(e)})]

    return handle


COMMAND_HANDLERS: dict[type[Any], Handler] = {
    Command.Created: _command_created,
    Command.Deleted: lambda e: [Delete("commands", _by_id(e))],
    CommandExecution.Created: _execution_created,
    CommandExecution.Sent: _execution(status=_const("sent"), sent_at=_at),
    # The latest hand-out: redelivery waits REDELIVER_AFTER from it, not from the first send.
    CommandExecution.Redelivered: _execution(sent_at=_at),
    CommandExecution.CancelRequested: _execution(cancel_requested=_const(True)),
    CommandExecution.Completed: _execution(
        status=_const("completed"), completed_at=_at, exit_code=lambda e: e.exit_code,
        output=lambda e: e.output),
    CommandExecution.Cancelled: _cancelled,
    CommandExecution.Expired: _execution(status=_const("expired"), reason=lambda e: e.reason),
    CommandExecution.Pruned: lambda e: [Delete("command_executions", _by_id(e))],
    SelfUpdateRequest.Created: _request_created,
    SelfUpdateRequest.Started: _request_patch(status=_const("processing"),
                                              total=lambda e: len(e.node_ids)),
    SelfUpdateRequest.Completed: _request_patch(
        status=_const("completed"), total=lambda e: e.total, triggered=lambda e: e.triggered,
        failed=lambda e: e.failed),
    SelfUpdateRequest.Deleted: lambda e: [Delete("self_update_requests", _by_id(e))],
}

# Node events that also touch command tables (merged with the fleet's own node handlers).
NODE_EXTRAS: dict[type[Any], Handler] = {
    Node.Deleted: _node_deleted,
    Node.ClusterChanged: _node_moved,
    Node.UpdateTriggered: _node_update(lambda e: e.self_update_request_id),
    Node.Reregistered: _node_update(_const(None)),
}
