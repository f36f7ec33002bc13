"""OpenAPI wording for the agent's work loop (/agent/v1/work and execution results)."""

from __future__ import annotations

from application.agent_protocol import ExecutionResult, WorkPoll
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op

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
