"""OpenAPI parts for the agent's work loop (/agent/v1/work and execution results)."""

from __future__ import annotations

from typing import Any

from application.agent_protocol import ExecutionResult, WorkPoll
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.openapi.schemas import INT, NUMBER, STR, TIME, UUID_S, doc, nullable, obj

_ASSIGNMENT = obj(
    "One execution handed to the agent; run it once with /bin/sh",
    id=doc(UUID_S, "Command execution ID (report the result against it)"),
    command_id=UUID_S,
    command_text=doc(STR, "The script to run"),
    timeout=doc(nullable(INT), "Milliseconds before the agent stops it (exit code 124)"),
    expired_at=doc(nullable(TIME), "The agent stops it at this moment (exit code 143)"),
)
RESOURCES: dict[str, Any] = {
    "AgentAssignment": _ASSIGNMENT,
    "AgentWorkResponse": obj(
        "Work for this node",
        executions={"type": "array", "items": {"$ref": "#/components/schemas/AgentAssignment"}},
        cancel=doc({"type": "array", "items": UUID_S},
                   "Executions the agent holds that the operator cancelled: stop them (SIGTERM)"),
        self_update=doc({"type": ["object", "null"], "properties": {"request_id": UUID_S}},
                        "Set when the agent should update itself and re-register"),
        heartbeat_interval_seconds=doc(NUMBER, "Send a heartbeat this often"),
        deployments=doc({"type": "array", "items": {"type": "object"}},
                        "Containers to start: request_id, image, ports, env (ARBITRIUM_*"
                        " included), cpu_units, memory_mb, command, arguments, max_duration"),
        stop_deployments=doc({"type": "array", "items": STR},
                             "request_ids the agent holds that must stop (SIGTERM)"),
    ),
    "AgentExecutionResultResponse": obj(
        "What the admin recorded",
        id=UUID_S, status=doc(STR, "The execution's status after this report"),
        accepted=doc({"type": "boolean"}, "false when the execution had already ended (a late"
                     " result after a cancel or expiry): nothing changed, stop retrying"),
    ),
}
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/agent/v1/work"): Op(
        AGENT, "Long-poll for work", 200, "AgentWork", (400, 422), WorkPoll,
        security=NODE_TOKEN,
        description="Answers as soon as there are executions, cancels or a self-update for"
        " this node, else empty after wait_seconds. Executions handed out are `sent`. One"
        " that is `sent` but missing from `running` for more than 2 s is handed out again"
        " (the previous answer was lost); the agent must skip ids it already holds."),
    ("POST", "/agent/v1/executions/{id}/result"): Op(
        AGENT, "Report how an execution ended", 200, "AgentExecutionResult", (400, 404, 422),
        ExecutionResult, security=NODE_TOKEN,
        description="Idempotent. Exit code 143 after a cancel request records `cancelled`;"
        " anything else `completed`. 404 if the execution is not this node's."),
}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "WorkPoll": ("AgentWorkRequest", {
        "running": "Execution ids in the agent's journal (running, or finished but not yet"
        " acknowledged)",
        "wait_seconds": "How long to hold the request open when there is no work (0-30)",
        "accept_work": "false while the agent drains before a self-update: only cancels are"
        " returned, no new executions",
    }),
    "ExecutionResult": ("AgentExecutionResultRequest", {
        "exit_code": "The shell's exit code (128+N when killed by signal N)",
        "output": "Combined stdout and stderr (the admin keeps at most 65,536 characters)",
    }),
}
