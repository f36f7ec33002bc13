"""The deployment part of the agent API: what a node should start or stop (answered inside the
work poll) and the agent's reports on its containers.

A poll names the deployments the agent holds. The answer lists those placed on the node that it
does not hold yet (with everything needed to run them) and those it holds that must stop: a stop
was asked, the admin no longer knows them as live, or they are over as an ERROR (a start the
admin gave up on that the node made late: nothing may run that the admin does not account for).
A ready one the agent does not hold has lost its container: it becomes an error.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import AgentHostReport, DeploymentReport
from application.apps import env_value
from application.deployments import reveal
from application.ports import SecretBox, UnsealError
from domain.deployment import REQUEST_ID, Status
from entrypoints.bootstrap import Services
from entrypoints.http.agent import node_for_token
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import read_body, services
from entrypoints.http.responses import ok
from projections.model import Upsert
from projections.query import AnyOf, Cond, ListQuery, Order

LIVE = AnyOf(tuple(Cond("status", "eq", s.value)
                   for s in (Status.DEPLOYING, Status.READY, Status.ERROR)))


def start_spec(box: SecretBox, row: dict[str, Any]) -> dict[str, Any]:
    """What the agent needs to run a deployment: secrets unsealed only here, on their way to
    the node that runs the container."""
    spec = json.loads(row["spec"])
    tags = spec.get("tags", [])
    env = {v["key"]: env_value(box, v) for v in spec["env"]}
    env.update({
        "ARBITRIUM_REQUEST_ID": row["request_id"],
        "ARBITRIUM_DELETE_URL": spec["delete_url"],
        "ARBITRIUM_DELETE_TOKEN": reveal(box, spec["delete_token"]),
        "ARBITRIUM_DEPLOYMENT_TAGS": json.dumps(tags),
        "ARBITRIUM_DEPLOYMENT_LOCATION": row.get("location") or "{}",
        "ARBITRIUM_DEPLOYMENT_VCPU_UNITS": str(spec["cpu_units"]),
        "ARBITRIUM_DEPLOYMENT_MEMORY_MB": str(spec["memory_mb"]),
    })
    return {"request_id": row["request_id"], "image": spec["image"], "ports": spec["ports"],
            "env": env, "cpu_units": spec["cpu_units"], "memory_mb": spec["memory_mb"],
            "command": spec["command"], "arguments": spec["arguments"],
            "max_duration": spec["max_duration"]}


def deployment_work(svc: Services, node_id: Any, held: list[str]) -> dict[str, list[Any]]:
    query = ListQuery((Cond("node_id", "eq", node_id), LIVE), (Order("start_time"),),
                      page_size=1000)
    rows = {r["request_id"]: r for r in svc.view.query("deployments", query).rows}
    holding = set(held)
    starts = []
    for request_id, row in rows.items():
        if request_id not in holding and row["status"] == Status.DEPLOYING.value:
            try:
                starts.append(start_spec(svc.box, row))
            except UnsealError as exc:  # the others still start
                svc.deployments.cannot_start(node_id, request_id, exc)
    stops = sorted(r for r in holding if r not in rows or rows[r].get("stopping")
                   or rows[r]["status"] == Status.ERROR.value)
    # Ready here but not held there: the agent holds every container it started or found at
    # its start, so this one was removed while no agent watched it (an agent restart).
    lost = sorted(r for r, row in rows.items()
                  if r not in holding and row["status"] == Status.READY.value)
    if lost:
        svc.deployments.lost(node_id, lost)
    return {"deployments": starts, "stop_deployments": stops}


async def report(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    request_id = str(request.path_params["request_id"])
    if not REQUEST_ID.match(request_id):
        raise ApiError(404, None, f"deployment {request_id} not found")
    body = await read_body(request, DeploymentReport)
    status = await run_in_threadpool(services(request).deployments.report, node["id"],
                                     request_id, body)
    return ok(request, {"request_id": request_id, "status": status})



async def host_report(request: Request) -> Response:
    node = await run_in_threadpool(node_for_token, request)
    body = await read_body(request, AgentHostReport)
    svc = services(request)
    await run_in_threadpool(svc.hosts.report, node["id"], body)
    images = "|" + "|".join(sorted(set(body.images))) + "|" if body.images else ""
    row = {"node_id": node["id"], "images": images}
    await run_in_threadpool(svc.view.apply_untracked, [Upsert("node_images", row)])
    return ok(request, {"node_id": node["id"], "images": len(set(body.images))})
