"""Agent API work loop: long-poll for executions, cancels and self-updates; report results.

The agent calls out (it may sit behind NAT). A poll names the executions the agent holds in its
journal; the answer comes as soon as there is work, or empty after `wait_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.agent_protocol import ExecutionResult, WorkPoll
from application.executions import Work
from entrypoints.bootstrap import Services
from entrypoints.http.inputs import node_for_token, path_uuid, read_body, services
from entrypoints.http.responses import ok


def _find(
    svc: Services, node_id: UUID, poll: WorkPoll
) -> tuple[Work, UUID | None, dict[str, list[Any]]]:
    work = svc.executions.next_work(node_id, poll.running, 50 if poll.accept_work else 0)
    row = svc.view.get("nodes", node_id)
    containers = svc.deployments.work_for(node_id, poll.deployments)
    if not poll.accept_work:
        containers["deployments"] = []
    return work, row["update_request_id"] if row else None, containers


def _body(svc: Services, work: Work, update: UUID | None,
          containers: dict[str, list[Any]]) -> dict[str, Any]:
    return {
        **containers,
        "executions": [
            {"id": a.id, "command_id": a.command_id, "command_text": a.command_text,
             "timeout": a.timeout, "expired_at": a.expired_at}
            for a in work.executions
        ],
        "cancel": work.cancel,
        "self_update": {"request_id": update} if update else None,
        "heartbeat_interval_seconds": svc.settings.heartbeat_interval,
    }


def _count_delivery(svc: Services, handed_out: int) -> None:
    svc.counters.add("commands.synced_total")
    if handed_out:
        svc.counters.add("commands.delivery_total")
        svc.counters.set("commands.delivery_delivered_count", handed_out)
        svc.counters.add("commands.execution_delivered_total", handed_out)


async def work(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    poll = await read_body(request, WorkPoll)
    svc = services(request)
    deadline = time.monotonic() + poll.wait_seconds
    # Armed before the first look, so work recorded while looking still wakes this poll.
    with svc.doorbell.listen(node["id"]) as rung:
        while True:
            rung.clear()
            found, update, containers = await run_in_threadpool(_find, svc, node["id"], poll)
            remaining = deadline - time.monotonic()
            busy = found.executions or found.cancel or update or any(containers.values())
            if busy or remaining <= 0:
                _count_delivery(svc, len(found.executions))
                return ok(request, _body(svc, found, update, containers))
            # Work recorded by another admin process rings nothing here: look again regularly.
            try:
                await asyncio.wait_for(rung.wait(), min(remaining, svc.settings.agent_poll_recheck))
            except TimeoutError:
                pass


async def result(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    exec_id = path_uuid(request)
    body = await read_body(request, ExecutionResult)
    reported = await run_in_threadpool(services(request).executions.report, node["id"], exec_id,
                                       body.exit_code, body.output)
    if reported.accepted:
        services(request).counters.add("commands.execution_completed_total")
    return ok(request, {"id": exec_id, "status": reported.status, "accepted": reported.accepted})


ROUTES = [
    Route("/agent/v1/work", work, methods=["POST"]),
    Route("/agent/v1/executions/{id}/result", result, methods=["POST"]),
]
