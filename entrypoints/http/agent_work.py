"""Agent API work loop: long-poll for executions, cancels and self-updates; report results.

The agent calls out (it may sit behind NAT). A poll names the executions the agent holds in its
journal; the answer comes as soon as there is work, or empty after `wait_seconds` (a stop of a
container the node was handed lately is carried by every answer but is no new work: application/
deployment_work.py StopsHandedOut). The answers are closed shapes; the agent decodes them with
the reply structs of application/agent_protocol.py.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import ExecutionResult, HealthProbe, PortMapping, WorkPoll
from application.deployment_work import writes_nothing
from application.executions import Work
from application.ports import DeploymentRef
from domain.command_execution import ExecutionStatus
from entrypoints.bootstrap import Services
from entrypoints.http.inputs import (
    agent_node,
    first_of,
    path_uuid,
    read_body,
    services,
    stopping_event,
)
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, Shape, described
from projections.fleet_tables import NodeRecord


class AgentAssignment(Shape):
    """One execution handed to the agent; run it once with /bin/sh"""

    id: Annotated[UUID, described("Command execution ID (report the result against it)")]
    command_id: Annotated[UUID, described("The command it executes")]
    command_text: Annotated[str, described("The script to run")]
    timeout: Annotated[int | None, described(
        "Milliseconds before the agent stops it (exit code 124)")]
    expired_at: Annotated[Moment | None, described(
        "The agent stops it at this moment (exit code 143)")]


class AgentSelfUpdate(Shape):
    """The self-update request the agent should act on"""

    request_id: Annotated[UUID, described("Self-update request ID")]


class AgentHealthCheck(Shape):
    """Report the container ready only once this check passes"""

    type: Annotated[Literal["http", "tcp"], described(
        "http: a GET of path answered with expected_status; tcp: a connection kept open")]
    port: Annotated[int, described("The container's port (checked where it is published)")]
    path: Annotated[str, described("Path of the GET (http)")]
    expected_status: Annotated[int, described("Status the GET must answer (http)")]
    interval_seconds: Annotated[float, described("Seconds between probes")]
    timeout_seconds: Annotated[float, described("Seconds a probe may take")]
    retries: Annotated[int, described("Failed probes in a row that fail the deployment")]
    start_period_seconds: Annotated[float, described(
        "Seconds after the start whose failed probes do not count")]


class AgentContainer(Shape):
    """A deployment's container to start, with everything it needs"""

    request_id: Annotated[str, described("Deployment request ID")]
    image: Annotated[str, described("Container image")]
    # The agent protocol's own struct, built from the stored spec's dicts (_body): the JSON is
    # the spec's, field for field, so agents that read it as plain objects still do.
    ports: Annotated[list[PortMapping], described(
        "Ports to publish, as the app version declares them")]
    env: Annotated[dict[str, str], described(
        "Environment (secrets unsealed, ARBITRIUM_* included)")]
    cpu_units: Annotated[int, described("CPU units (1024 = one vCPU)")]
    memory_mb: Annotated[int, described("Memory limit in MB")]
    command: Annotated[str | None, described("Command overriding the image's")]
    arguments: Annotated[str | None, described("Arguments overriding the image's")]
    max_duration: Annotated[int, described("Minutes before it is stopped (0: no limit)")]
    health: Annotated[AgentHealthCheck | None, described(
        "Its health check; null: ready as soon as it runs")]


class AgentHealthProbe(Shape):
    """A live health probe of a deployment the agent runs"""

    probe_id: Annotated[UUID, described("Carried by the observation that answers it")]
    request_id: Annotated[str, described("Deployment request ID")]


class AgentWorkResponse(Shape):
    """Work for this node"""

    deployments: Annotated[list[AgentContainer], described("Containers to start")]
    stop_deployments: Annotated[list[str], described(
        "request_ids the agent holds that must stop (SIGTERM)")]
    executions: Annotated[list[AgentAssignment], described("Executions to run")]
    cancel: Annotated[list[UUID], described(
        "Executions the agent holds that the operator cancelled: stop them (SIGTERM)")]
    self_update: Annotated[AgentSelfUpdate | None, described(
        "Set when the agent should update itself and re-register")]
    heartbeat_interval_seconds: Annotated[float, described(
        "Send a heartbeat this often (seconds)")]
    health_probes: Annotated[list[AgentHealthProbe], described(
        "Deployments to probe now: answer each with a health observation carrying probe_id")]
    pause_deployments: Annotated[list[str], described(
        "request_ids of ready containers to stop and keep (a resource's runtime stop)"
    )] = msgspec.field(default_factory=list)
    resume_deployments: Annotated[list[str], described(
        "request_ids of containers stopped that way to start again (runtime start)"
    )] = msgspec.field(default_factory=list)


class AgentExecutionResultResponse(Shape):
    """What the admin recorded"""

    id: Annotated[UUID, described("Command execution ID")]
    status: Annotated[ExecutionStatus, described("The execution's status after this report")]
    accepted: Annotated[bool, described(
        "false when the execution had already ended (a late result after a cancel or expiry):"
        " nothing changed, stop retrying")]


SHAPES = (AgentWorkResponse, AgentAssignment, AgentSelfUpdate, AgentContainer, AgentHealthCheck,
          AgentExecutionResultResponse, AgentHealthProbe)


Found = tuple[Work, UUID | None, dict[str, list[Any]]]


async def _look(svc: Services, node_id: UUID, poll: WorkPoll) -> Found:
    """One look for the node's work. Everything is read after the poll's doorbell is armed
    (the node as the token's lookup read it may predate a self-update whose ring came before
    the arming). On the event loop where the view reads there and the answer writes nothing
    (the steady state: the agent holds the node's containers, no control completes a phase);
    else in one worker thread, where deciding a start, a lost container or a phase records
    it."""
    live = None
    if svc.view.reads_async:
        live = await svc.deployments.finder.live_on_async(node_id)
        if writes_nothing(live, poll.deployments):
            controls = None if poll.stopped is None else (
                await svc.runtime_controls.work_without_phases_async(
                    live, poll.deployments, poll.stopped))
            if poll.stopped is None or controls is not None:
                work = await svc.executions.next_work_async(node_id, poll.running,
                                                            _limit(poll))
                row = await svc.fleet_reads.nodes.get_async(node_id)
                probes = await svc.resource_health.probes_for_async(node_id)
                return _assembled(svc, node_id, poll, work, row, live, probes, controls)
    return await run_in_threadpool(_find, svc, node_id, poll, live)


def _find(svc: Services, node_id: UUID, poll: WorkPoll,
          live: list[DeploymentRef] | None = None) -> Found:
    """The look in a worker thread; `live`: the node's live deployments, if just read."""
    work = svc.executions.next_work(node_id, poll.running, _limit(poll))
    row = svc.fleet_reads.nodes.get(node_id)
    if live is None:  # one read for starts, stops and pauses
        live = svc.deployments.finder.live_on(node_id)
    return _assembled(svc, node_id, poll, work, row, live,
                      svc.resource_health.probes_for(node_id))


def _limit(poll: WorkPoll) -> int:
    return 50 if poll.accept_work else 0


def _assembled(  # noqa: PLR0913 - what one look read, put together
    svc: Services, node_id: UUID, poll: WorkPoll, work: Work, row: NodeRecord | None,
    live: list[DeploymentRef], probes: list[HealthProbe],
    controls: dict[str, list[str]] | None = None,
) -> Found:
    """The look's answer; its deployments' work decided from `live` (no read of its own),
    its pauses and resumes from `controls` where they were decided already."""
    containers = svc.deployments.work_for(node_id, poll.deployments, live)
    if poll.stopped is not None:  # an older agent cannot pause: never ask it to
        containers.update(controls if controls is not None else
                          svc.runtime_controls.work_for(live, poll.deployments, poll.stopped))
    if not poll.accept_work:
        containers["deployments"] = []
    containers["health_probes"] = probes
    return work, row.update_request_id if row else None, containers


def _body(svc: Services, work: Work, update: UUID | None,
          containers: dict[str, list[Any]]) -> AgentWorkResponse:
    return AgentWorkResponse(
        deployments=msgspec.convert(containers["deployments"], list[AgentContainer]),
        stop_deployments=containers["stop_deployments"],
        pause_deployments=containers.get("pause_deployments", []),
        resume_deployments=containers.get("resume_deployments", []),
        executions=[
            AgentAssignment(id=a.id, command_id=a.command_id, command_text=a.command_text,
                            timeout=a.timeout, expired_at=a.expired_at)
            for a in work.executions
        ],
        cancel=work.cancel,
        self_update=AgentSelfUpdate(request_id=update) if update else None,
        heartbeat_interval_seconds=svc.settings.heartbeat_interval,
        health_probes=msgspec.convert(containers.get("health_probes", []),
                                      list[AgentHealthProbe], from_attributes=True),
    )


def _count_delivery(svc: Services, handed_out: int) -> None:
    svc.counters.add("commands.synced_total")
    if handed_out:
        svc.counters.add("commands.delivery_total")
        svc.counters.set("commands.delivery_delivered_count", handed_out)
        svc.counters.add("commands.execution_delivered_total", handed_out)


async def work(request: Request) -> Response:
    node = await agent_node(request)
    poll = await read_body(request, WorkPoll)
    svc = services(request)
    stopping = stopping_event(request)
    deadline = time.monotonic() + poll.wait_seconds
    # Armed before the first look, so work recorded while looking still wakes this poll.
    with svc.doorbell.listen(node.id) as rung:
        look = True
        while True:
            if look:
                rung.clear()
                found, update, containers = await _look(svc, node.id, poll)
            now = time.monotonic()
            remaining = deadline - now
            stops, handed = containers["stop_deployments"], svc.deployments.stops_handed
            busy = found.executions or found.cancel or update or handed.fresh(
                node.id, stops, now) or any(v for k, v in containers.items()
                                            if k != "stop_deployments")
            if busy or remaining <= 0 or stopping.is_set():
                _count_delivery(svc, len(found.executions))
                handed.handed(node.id, stops, now)
                return ok(request, _body(svc, found, update, containers))
            # Other admin processes ring this poll too where the store is PostgreSQL; the look
            # again catches a ring lost meanwhile (Settings.poll_recheck) and a redelivery due.
            wait = min(remaining, svc.settings.poll_recheck())
            if found.redeliver_in is not None:
                wait = min(wait, found.redeliver_in + 0.01)
            await first_of(rung, stopping, wait)
            # Over with no ring (its deadline, or the server stopping): nothing was recorded for
            # the node by this process nor, on PostgreSQL, by another, so it answers what its
            # last look found instead of looking once more; the agent's next poll looks at once.
            look = rung.is_set() or not (stopping.is_set() or time.monotonic() >= deadline)


async def result(request: Request) -> Response:
    node = await agent_node(request)
    exec_id = path_uuid(request)
    body = await read_body(request, ExecutionResult)
    reported = await services(request).executions.report_async(node.id, exec_id,
                                                               body.exit_code, body.output)
    if reported.accepted:
        services(request).counters.add("commands.execution_completed_total")
    return ok(request, AgentExecutionResultResponse(
        id=exec_id, status=ExecutionStatus(reported.status), accepted=reported.accepted))


ROUTES = [
    route("POST", "/agent/v1/work", work, Op(
        AGENT, "Long-poll for work", 200, "AgentWork", (400, 422), WorkPoll,
        security=NODE_TOKEN,
        description="Answers as soon as there are executions, cancels or a self-update for"
        " this node, else empty after wait_seconds. Executions handed out are `sent`. One"
        " that is `sent` but missing from `running` for more than 2 s is handed out again"
        " (the previous answer was lost); the agent must skip ids it already holds.")),
    route("POST", "/agent/v1/executions/{id}/result", result, Op(
        AGENT, "Report how an execution ended", 200, "AgentExecutionResult", (400, 404, 422),
        ExecutionResult, security=NODE_TOKEN,
        description="Idempotent. Exit code 143 (honoured) or 137 (interrupted) after a cancel"
        " request records `cancelled`; anything else `completed`. 404 if the execution is not"
        " this node's.")),
]
