"""OpenAPI wording for the agent's work loop (/agent/v1/work and execution results)."""

from __future__ import annotations

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
