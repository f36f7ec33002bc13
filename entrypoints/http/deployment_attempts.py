"""Appaloft's /deployments: the attempts of resources on the one Deployment machinery.

The plan (readiness and reason codes, no mutation), create, redeploy, retry, rollback and
cancel, the list, count and show (`deployments.show/v1`: the masked snapshot and the timeline
of the Deployment's events with their sequence numbers), and recovery readiness. Statuses are
derived as domain/deployment_attempt.py says; nothing here shows a secret, not even sealed.
Mengi's POST /deployments/app-hosting shares the path prefix and is matched first.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.deployment_attempts import (
    CancelDeployment,
    CreateDeployment,
    RollbackDeployment,
)
from domain.deployment import deployment_uuid
from domain.deployment_attempt import AttemptStatus
from entrypoints.http import attempt_views
from entrypoints.http.appaloft_views import (
    accepted,
    answer,
    counted,
    found,
    generated_at,
    id_param,
    limit_param,
    run,
)
from entrypoints.http.attempt_readiness import (
    PlanResponse,
    RecoveryReadinessResponse,
    plan,
    readiness,
)
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import QueryParam, bounded_int, one_of, parse_bool, parse_params
from entrypoints.http.serializers import described

_d = described
STATUSES = tuple(s.value for s in AttemptStatus)
STATUS_PARAM = QueryParam("status", one_of(*STATUSES), {"type": "string", "enum": list(STATUSES)},
                          "Only attempts in this status", example="succeeded")
ARCHIVED_PARAM = QueryParam("includeArchived", parse_bool, {"type": "boolean", "default": False},
                            "Accepted for Appaloft's clients; attempts are never archived here",
                            example=False)
SCOPE = (id_param("projectId", "project"), id_param("resourceId", "resource"), ARCHIVED_PARAM,
         STATUS_PARAM)
LIST_QUERY = (*SCOPE, limit_param())
PLAN_QUERY = (id_param("projectId", "project", True),
              id_param("environmentId", "environment", True),
              id_param("resourceId", "resource", True),
              id_param("serverId", "server (an edge node); omitted: any healthy node"))
READINESS_QUERY = (
    QueryParam("includeCandidates", parse_bool, {"type": "boolean", "default": True},
               "List the rollback candidates (default true)", example=True),
    QueryParam("maxCandidates", bounded_int(1, 50),
               {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
               "At most this many candidates (1 to 50, default 10)", example=5),
)
SHOW_QUERY = tuple(QueryParam(name, parse_bool, {"type": "boolean", "default": True},
                              "Include this section (default true)", example=True)
                   for name in ("includeTimeline", "includeSnapshot", "includeRelatedContext",
                                "includeLatestFailure", "includeRecoverySummary"))


def _created(request_id: str) -> Response:
    return accepted(deployment_uuid(request_id), 201)


async def plan_deployment(request: Request) -> Response:
    query = parse_params(request, PLAN_QUERY)
    result: PlanResponse = await run(plan, services(request), query, generated_at(request))
    return answer(result)


async def create(request: Request) -> Response:
    cmd = await read_body(request, CreateDeployment)
    return _created((await run(services(request).deployment_attempts.create, cmd)).request_id)


async def index(request: Request) -> Response:
    query = parse_params(request, LIST_QUERY)
    statuses = (query["status"],) if query["status"] else ()
    found_ = await run(services(request).resource_reads.attempt_list, query["projectId"],
                       query["resourceId"], statuses, query["limit"] or 100)
    return answer(attempt_views.DeploymentAttemptListResponse(
        items=[attempt_views.shape(a) for a in found_]))


async def count(request: Request) -> Response:
    query = parse_params(request, SCOPE)
    statuses = (query["status"],) if query["status"] else ()
    reads = services(request).resource_reads
    return counted(await run(reads.attempt_count, query["projectId"], query["resourceId"],
                             statuses))


async def show(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    include = parse_params(request, SHOW_QUERY)
    return answer(await run(attempt_views.show, services(request), deployment_id, include,
                            generated_at(request)))


async def retry(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    attempts = services(request).deployment_attempts
    return _created((await run(attempts.retry, deployment_id)).request_id)


async def rollback(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    cmd = await read_body(request, RollbackDeployment)
    attempts = services(request).deployment_attempts
    return _created((await run(attempts.rollback, deployment_id, cmd)).request_id)


async def cancel(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    cmd = await read_body(request, CancelDeployment)
    svc = services(request)
    await run(svc.deployment_attempts.cancel, deployment_id, cmd)
    attempt = found(await run(svc.resource_reads.attempts.get, deployment_id), "deployment",
                    deployment_id)
    canceled_at = attempt.finished_at if attempt.status == AttemptStatus.CANCELED else None
    return answer(attempt_views.CancelResponse(id=attempt.id, status=attempt.status,
                                               canceled_at=canceled_at))


async def redeploy(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")
    attempts = services(request).deployment_attempts
    return _created((await run(attempts.redeploy, resource_id)).request_id)


async def recovery_readiness(request: Request) -> Response:
    deployment_id = path_uuid(request, "deploymentId")
    query = parse_params(request, READINESS_QUERY)
    svc = services(request)
    attempt = found(await run(svc.resource_reads.attempts.get, deployment_id), "deployment",
                    deployment_id)
    limit = query["maxCandidates"] or 10
    result: RecoveryReadinessResponse = await run(readiness, svc, attempt,
                                                  generated_at(request), limit)
    if query["includeCandidates"] is False:
        result.rollback.candidates = []
    return answer(result)


ROUTES = [
    Route("/deployments/plan", plan_deployment, methods=["GET"]),
    Route("/deployments", create, methods=["POST"]),
    Route("/deployments", index, methods=["GET"]),
    Route("/deployments/count", count, methods=["GET"]),
    Route("/deployments/{deploymentId}", show, methods=["GET"]),
    Route("/deployments/{deploymentId}/retry", retry, methods=["POST"]),
    Route("/deployments/{deploymentId}/cancel", cancel, methods=["POST"]),
    Route("/deployments/{deploymentId}/rollback", rollback, methods=["POST"]),
    Route("/deployments/{deploymentId}/recovery-readiness", recovery_readiness,
          methods=["GET"]),
    Route("/resources/{resourceId}/redeploy", redeploy, methods=["POST"]),
]
