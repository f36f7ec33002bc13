"""OpenAPI parts for a resource's runtime: runtime stop, start and restart and their attempts
(entrypoints/http/runtime_controls.py). Same conventions as openapi/appaloft.py."""

from __future__ import annotations

from application.agent_protocol import RuntimeLogBatch
from application.deployment_attempts import CreateDeployment
from entrypoints.http import appaloft_views, attempt_events, runtime_logs
from entrypoints.http.openapi.appaloft import _CMD, DEPLOYMENT, RESOURCE, _op
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.openapi.schemas import UUID_S, Schema
from entrypoints.http.runtime_controls import ControlRuntime

_ATTEMPT = "RuntimeControlAttempt"
_CONTROL = (
    " Answers the runtime-control attempt: `accepted` (the node's agent carries it out:"
    " `running` after a phase, then `succeeded`, or `failed` with errorCode runtime-ended when"
    " the deployment ends meanwhile, runtime-control-timeout when no agent carried it out"
    " within DEPLOYMENT_START_DEADLINE_SECONDS), or `blocked` with blockedReason resource-archived,"
    " deployment-in-progress, runtime-control-in-progress or runtime-not-found (no ready"
    " deployment). 404 for an unknown resource; 409 when its environment is locked or"
    " archived.")

PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "runtimeControlAttemptId": (UUID_S, "Runtime-control attempt id"),
}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/resources/{resourceId}/runtime/stop"): _op(
        RESOURCE, "Stop a resource's current runtime", 200, _ATTEMPT, (400, *_CMD),
        body=ControlRuntime,
        description="Stops the container of its current deployment and keeps it: it stays"
        " stopped (the agent does not start it again) until a start or a new deployment."
        + _CONTROL),
    ("POST", "/resources/{resourceId}/runtime/start"): _op(
        RESOURCE, "Start a resource's stopped runtime", 200, _ATTEMPT, (400, *_CMD),
        body=ControlRuntime,
        description="Starts the same container again (the same snapshot), health-checked as"
        " when it was deployed; a running one completes at once." + _CONTROL),
    ("POST", "/resources/{resourceId}/runtime/restart"): _op(
        RESOURCE, "Restart a resource's runtime", 200, _ATTEMPT, (400, *_CMD),
        body=ControlRuntime,
        description="Phases stop then start of the same container." + _CONTROL),
    ("GET", "/resources/{resourceId}/runtime-logs"): _op(
        RESOURCE, "Read a resource's runtime logs", 200, "RuntimeLogs", (400, 404),
        query=runtime_logs.RuntimeLogsQuery,
        description="The lines its deployment's container wrote while it ran (stdout and"
        " stderr), as its agent ships them every 2 s, oldest first: the last tailLines, or"
        " the first tailLines after `cursor`. The deployment is deploymentId (404 unless it"
        " is this resource's), else the one serving, else the latest. Each deployment keeps"
        " its last 1000 lines. Secret values are replaced by **** (masked: true). follow=true:"
        " with no line to answer, waits up to 10 s for the next. 400 for a cursor that is not"
        " a sequence from 0 to 2^63-1, tailLines out of 0..1000, or a since that is not an"
        " RFC 3339 time with a zone."),
    ("GET", "/resources/{resourceId}/runtime-logs/stream"): _op(
        RESOURCE, "Stream a resource's runtime logs (Server-Sent Events)", 200, None,
        (400, 404), query=runtime_logs.RuntimeLogStreamQuery, stream=True,
        description="The same entries as text/event-stream: `id: <sequence>`, `data: <entry"
        " JSON>`, then each new line as the agent ships it; a `: heartbeat` comment every 15 s"
        " when idle. Resumes after Last-Event-ID (or `cursor`); else starts with the last"
        " tailLines. follow=false sends the page and ends; a stopping server ends it."),
    ("GET", "/resources/{resourceId}/runtime-controls"): _op(
        RESOURCE, "List a resource's runtime controls (newest first)", 200,
        "RuntimeControlList", (400, 404), query=appaloft_views.LimitQuery),
    ("GET", "/resources/{resourceId}/runtime-controls/{runtimeControlAttemptId}"): _op(
        RESOURCE, "Show a runtime-control attempt", 200, _ATTEMPT, (400, 404)),
}

OPERATIONS[("POST", "/deployments/stream")] = _op(
    DEPLOYMENT, "Create a deployment and stream its events (Server-Sent Events)", 200, None,
    (400, 404, 409, 422, 503), body=CreateDeployment, query=attempt_events.CreateStreamQuery,
    stream=True,
    description="Creates the attempt as POST /deployments does (its errors answer before any"
    " stream: 404, 409 for a locked environment or an attempt in progress, 422), then sends"
    " its events from the first in the frames of /deployments/{deploymentId}/events/stream;"
    " `Location` names the new deployment. untilTerminal (default true) ends it with"
    " `event: end` once the attempt is terminal; a stopping server ends it.")
OPERATIONS[("POST", "/agent/v1/deployments/{request_id}/runtime-logs")] = Op(
    AGENT, "Send the lines a running container wrote", 200, "AgentRuntimeLog",
    (400, 404, 422), RuntimeLogBatch, security=NODE_TOKEN,
    description="The lines since the last batch, oldest first (at most 500, each at most"
    " 8192 characters); the admin masks secret values and numbers them.")

BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "ControlRuntime": ("RuntimeControlRequest", {}),
    "RuntimeLogBatch": ("AgentRuntimeLogRequest", {
        "lines": "{stream (stdout or stderr), timestamp (RFC 3339), message}, oldest first"}),
}
