"""OpenAPI parts for a resource's runtime: the path parameter and request bodies of runtime stop,
start and restart and their attempts (entrypoints/http/runtime_controls.py) and of the agent's
runtime logs. Same conventions as openapi/appaloft.py."""

from __future__ import annotations

from entrypoints.http.openapi.schemas import UUID_S, Schema

PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "runtimeControlAttemptId": (UUID_S, "Runtime-control attempt id"),
}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "ControlRuntime": ("RuntimeControlRequest", {}),
    "RuntimeLogBatch": ("AgentRuntimeLogRequest", {
        "lines": "{stream (stdout or stderr), timestamp (RFC 3339), message}, oldest first",
        "after": "{timestamp (RFC 3339) or null, stdout, stderr}: the batch's lines of each"
                 " stream stamped `timestamp` come after that many of them sent before; null"
                 " timestamp: each stamp from its first line. Absent: an agent from before it"}),
}
