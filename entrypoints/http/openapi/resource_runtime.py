"""OpenAPI parts for a resource's runtime: runtime stop, start and restart and their attempts
(entrypoints/http/runtime_controls.py). Same conventions as openapi/appaloft.py."""

from __future__ import annotations

from entrypoints.http import appaloft_views
from entrypoints.http.openapi.appaloft import _CMD, RESOURCE, _op
from entrypoints.http.openapi.op import Op
from entrypoints.http.openapi.schemas import UUID_S, Schema
from entrypoints.http.runtime_controls import ControlRuntime

_ATTEMPT = "RuntimeControlAttempt"
_CONTROL = (
    " Answers the runtime-control attempt: `accepted` (the node's agent carries it out:"
    " `running` after a phase, then `succeeded`, or `failed` with errorCode runtime-ended when"
    " the deployment ends meanwhile), or `blocked` with blockedReason resource-archived,"
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
    ("GET", "/resources/{resourceId}/runtime-controls"): _op(
        RESOURCE, "List a resource's runtime controls (newest first)", 200,
        "RuntimeControlList", (400, 404), query=appaloft_views.LimitQuery),
    ("GET", "/resources/{resourceId}/runtime-controls/{runtimeControlAttemptId}"): _op(
        RESOURCE, "Show a runtime-control attempt", 200, _ATTEMPT, (400, 404)),
}

BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "ControlRuntime": ("RuntimeControlRequest", {}),
}
