"""GET /deployments/{id}/logs: what happened to a deployment attempt, phase by phase (plan,
pull, start, health, stop), from what is recorded: its timeline (the Deployment's lifecycle
events) and the container logs its agent last sent through the telemetry route (the log tail,
or the logs of a crash or a failed health check).

The agent's progress lines while it started the container (the image pulled or found, the
container started, its health probes: entrypoints/agent/start_progress.py) come in between, at
the admin's time of their arrival, so they show while the attempt runs. An agent that sends
none leaves the lifecycle alone: `pull` is then the placement, and the start is known only by
its report.

The seed shows only the entry's fields (timestamp, source, phase, level, message, masked); the
sources, phases and levels here are ours (README, "Resources (Appaloft)").
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal, cast
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from domain.deployment_attempt import AttemptStatus
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    NoQuery,
    answer,
    found,
    read_query,
    run,
)
from entrypoints.http.attempt_views import (
    PHASES,
    Phase,
    check_of,
    failure_phase,
    failure_source,
)
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import DEPLOYMENT, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from projections.deployment_tables import CONTAINER_LINES
from projections.resource_reads import ContainerLogs, timeline
from projections.resource_tables import AttemptRecord

_d = described
Source = Literal["edge-admin", "edge-agent", "container"]
Level = Literal["info", "error"]


class LogEntry(AppaloftShape):
    timestamp: Moment
    source: Annotated[Source, _d("edge-admin (the request, its placement, and the failures the"
                                 " admin decides: no room, a start not reported in time, the"
                                 " node unreachable or deleted), edge-agent (its reports, and"
                                 " its progress while it starts the container: the pull, the"
                                 " start, each health probe), container (the output the agent"
                                 " sent)")]
    phase: Annotated[Phase, _d(PHASES)]
    level: Level
    message: str
    masked: Annotated[bool, _d("Always false: the container's own output is shown as it was"
                               " written; nothing here carries a variable's value")]


class DeploymentLogsResponse(AppaloftShape):
    """The attempt's log, oldest first"""

    deployment_id: UUID
    logs: list[LogEntry]


SHAPES = (DeploymentLogsResponse,)


def _entry(at: datetime, source: Source, phase: Phase, message: str,
           level: Level = "info") -> LogEntry:
    return LogEntry(timestamp=at, source=source, phase=phase, level=level, message=message,
                    masked=False)


def _lifecycle(attempt: AttemptRecord, image: str, check: str | None,
               progressed: bool) -> list[LogEntry]:
    """`progressed`: the agent's lines said how the start went; its ready report is one line."""
    entries = []
    for e in timeline(attempt):
        if e.event_type == "Requested":
            entries.append(_entry(e.at, "edge-admin", "plan",
                                  f"planned ({attempt.trigger_kind}): run {image}"))
        elif e.event_type == "Placed":
            entries.append(_entry(e.at, "edge-admin", "pull", f"placed on server"
                                  f" {attempt.server_id}; its agent pulls {image}"))
        elif e.event_type == "Ready" and progressed:
            entries.append(_entry(e.at, "edge-agent", "start" if check is None else "health",
                                  "ready" if check is None else f"ready: {check} passes"))
        elif e.event_type == "Ready" and check is None:
            entries.append(_entry(e.at, "edge-agent", "start", "container started"))
        elif e.event_type == "Ready":
            entries.append(_entry(e.at, "edge-agent", "start", "container started"))
            entries.append(_entry(e.at, "edge-agent", "health", f"health check passed ({check})"))
        elif e.event_type == "Failed":
            entries.append(_entry(e.at, failure_source(attempt), failure_phase(attempt),
                                  attempt.error_detail or "failed", "error"))
        else:
            entries.append(_entry(e.at, "edge-agent" if e.event_type == "Terminated"
                                  else "edge-admin", "stop", {
                "StopDeferred": "stop asked before its node started it",
                "StopRequested": "stop requested",
                "Terminated": "container stopped"}[e.event_type]))
    return entries


def _container(attempt: AttemptRecord, found_: ContainerLogs | None) -> list[LogEntry]:
    if found_ is None:
        return []
    crashed = found_.crash_logs is not None
    text = found_.crash_logs if found_.crash_logs is not None else found_.logs
    phase: Phase = failure_phase(attempt) if crashed else "start"
    level: Level = "error" if crashed and attempt.status == AttemptStatus.FAILED else "info"
    lines = text.splitlines()[-CONTAINER_LINES:]
    return [_entry(found_.at, "container", phase, line, level) for line in lines]


def logs(svc: Services, deployment_id: UUID) -> DeploymentLogsResponse:
    reads = svc.resource_reads
    attempt = found(reads.attempts.get(deployment_id), "deployment", deployment_id)
    snapshot = json.loads(attempt.snapshot)
    progress = [_entry(p.at, "edge-agent", cast(Phase, p.phase), p.message,
                       cast(Level, p.level)) for p in reads.progress(attempt.request_id)]
    entries = [*_lifecycle(attempt, snapshot["image"], check_of(snapshot["health"]),
                           bool(progress)),
               *progress, *_container(attempt, reads.container_logs(attempt.request_id))]
    entries.sort(key=lambda entry: entry.timestamp)  # stable: lifecycle first at a tie
    return DeploymentLogsResponse(deployment_id=deployment_id, logs=entries)


async def show(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    read_query(request, NoQuery)
    return answer(await run(logs, services(request), deployment_id))


ROUTES = [
    route("GET", "/deployments/{deploymentId}/logs", show, appaloft_op(
        DEPLOYMENT, "Read a deployment's logs", 200, "DeploymentLogs", (400, 404),
        description="Phase by phase (plan, pull, start, health, stop), from its lifecycle"
        " events, the progress its agent reported while it started the container (the pull,"
        " the start, its health probes: shown while the attempt runs) and the container logs"
        " its agent last sent (the log tail, or the logs of a crash or a failed health"
        " check), oldest first.")),
]
