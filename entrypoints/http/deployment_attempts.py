"""Appaloft's /deployments: the attempts of resources on the one Deployment machinery.

The plan (readiness and reason codes, no mutation), create, redeploy, retry, rollback,
cancel and archive, the list, count and show (`deployments.show/v1`: the masked snapshot and
the timeline of the Deployment's events with their sequence numbers), and recovery
readiness. Statuses are derived as domain/deployment_attempt.py says; nothing here shows a
secret, not even sealed.
Mengi's POST /deployments/app-hosting shares the path prefix and is matched first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar, get_args
from uuid import UUID

from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from application.deployment_attempts import (
    ArchiveDeployment,
    CancelDeployment,
    ConfirmedBody,
    CreateDeployment,
    DeploymentAttempts,
    RollbackDeployment,
)
from application.deployments import Accepted
from domain.deployment import deployment_uuid
from domain.deployment_attempt import AttemptStatus
from entrypoints.bootstrap import Services
from entrypoints.http import attempt_views
from entrypoints.http.appaloft_views import (
    Commands,
    Limit,
    ProjectFilter,
    Query,
    Reads,
    ResourceFilter,
    answer,
    found,
    generated_at,
    read_query,
    run,
)
from entrypoints.http.attempt_plan import PlanQuery, PlanResponse, plan
from entrypoints.http.attempt_readiness import RecoveryReadinessResponse, readiness
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.openapi.appaloft import (
    COMMAND_ERRORS,
    COUNT_DATA,
    DEPLOYMENT,
    ID_DATA,
    appaloft_op,
)
from entrypoints.http.routing import route
from entrypoints.http.serializers import described
from projections.resource_tables import AttemptRecord

_d = described
_ID = "deploymentId"  # the path parameter
C = TypeVar("C", bound=ConfirmedBody)


# AttemptStatus's values, inline: a query parameter's schema cannot refer to a component.
StatusName = Literal["created", "planning", "planned", "running", "cancel-requested",
                     "succeeded", "failed", "canceled", "rolled-back"]
assert set(get_args(StatusName)) == {s.value for s in AttemptStatus}


class DeploymentCountQuery(Query):
    project_id: ProjectFilter = None
    resource_id: ResourceFilter = None
    include_archived: Annotated[bool, _d("Count and list archived attempts too (default"
                                         " false: they are left out)")] = False
    status: Annotated[StatusName | None, _d("Only attempts in this status")] = None
    statuses: Annotated[
        Annotated[list[StatusName], Meta(max_length=len(get_args(StatusName)))] | None,
        _d("Only attempts in one of these statuses (the parameter repeated); with status, in"
           " any of them")] = None


class DeploymentListQuery(DeploymentCountQuery):
    limit: Limit = 100


class RecoveryReadinessQuery(Query):
    resource_id: Annotated[UUID | None, _d("The attempt's resource; another is a 404")] = None
    include_candidates: Annotated[bool, _d("List the rollback candidates (default true)")] = True
    max_candidates: Annotated[int, Meta(ge=1, le=50, description="At most this many"
                                                                 " candidates (default 10)")] = 10


def _deployment_of(accepted: Accepted) -> UUID:
    return deployment_uuid(accepted.request_id)


_READS = Reads(__name__)
# A command that requests an attempt answers 201 with the id of its deployment.
_COMMANDS = Commands(__name__, lambda svc: svc.deployment_attempts, _ID, _deployment_of)


async def plan_deployment(request: Request) -> Response:
    query = read_query(request, PlanQuery)
    result: PlanResponse = await run(plan, services(request), query, generated_at(request))
    return answer(result)


create = _COMMANDS.create(DeploymentAttempts.create, CreateDeployment)


def _statuses(query: DeploymentCountQuery) -> tuple[str, ...]:
    asked = [*([query.status] if query.status else []), *(query.statuses or [])]
    return tuple(dict.fromkeys(asked))


def _list(svc: Services,
          query: DeploymentListQuery) -> attempt_views.DeploymentAttemptListResponse:
    attempts = svc.resource_reads.attempt_list(query.project_id, query.resource_id,
                                               _statuses(query), query.limit,
                                               query.include_archived)
    return attempt_views.DeploymentAttemptListResponse(
        items=[attempt_views.shape(a) for a in attempts])


index = _READS.index(DeploymentListQuery, _list)
count = _READS.count(DeploymentCountQuery, lambda svc, query: svc.resource_reads.attempt_count(
    query.project_id, query.resource_id, _statuses(query), query.include_archived))


async def show(request: Request) -> Response:
    deployment_id = path_uuid(request, _ID)
    include = read_query(request, attempt_views.DeploymentShowQuery)
    return answer(await run(attempt_views.show, services(request), deployment_id, include,
                            generated_at(request)))


retry = _COMMANDS.item(DeploymentAttempts.retry, status=201)
rollback = _COMMANDS.item(DeploymentAttempts.rollback, RollbackDeployment, status=201)


async def _confirmed(request: Request, body: type[C],
                     act: Callable[[DeploymentAttempts, UUID, C], object]) -> AttemptRecord:
    """Runs a command whose body repeats the deployment id; the attempt as it is after it."""
    deployment_id = path_uuid(request, _ID)
    cmd = await read_body(request, body)
    svc = services(request)
    await run(act, svc.deployment_attempts, deployment_id, cmd)
    return found(await run(svc.resource_reads.attempts.get, deployment_id), "deployment",
                 deployment_id)


async def cancel(request: Request) -> Response:
    attempt = await _confirmed(request, CancelDeployment, DeploymentAttempts.cancel)
    canceled_at = attempt.finished_at if attempt.status == AttemptStatus.CANCELED else None
    return answer(attempt_views.CancelResponse(id=attempt.id, status=attempt.status,
                                               canceled_at=canceled_at))


async def archive(request: Request) -> Response:
    attempt = await _confirmed(request, ArchiveDeployment, DeploymentAttempts.archive)
    if attempt.archived_at is None:  # the read model waited for the write: never here
        raise ApiError(503, None, f"deployment {attempt.id} is archived but not read yet")
    return answer(attempt_views.ArchiveResponse(id=attempt.id, archived_at=attempt.archived_at))


redeploy = _COMMANDS.item(DeploymentAttempts.redeploy, param="resourceId", status=201)


async def recovery_readiness(request: Request) -> Response:
    deployment_id = path_uuid(request, _ID)
    query = read_query(request, RecoveryReadinessQuery)
    svc = services(request)
    attempt = found(await run(svc.resource_reads.attempts.get, deployment_id), "deployment",
                    deployment_id)
    if query.resource_id not in (None, attempt.resource_id):
        raise ApiError(404, None, f"deployment {deployment_id} is not of resource"
                                  f" {query.resource_id}")
    result: RecoveryReadinessResponse = await run(readiness, svc, attempt,
                                                  generated_at(request), query.max_candidates)
    if not query.include_candidates:
        result.rollback.candidates = []
    return answer(result)


ROUTES = [
    route("GET", "/deployments/plan", plan_deployment, appaloft_op(
        DEPLOYMENT, "Plan a deployment (no mutation)", 200, "Plan", (400, 404), query=PlanQuery,
        description="readiness.reasonCodes name what blocks it now.")),
    route("POST", "/deployments", create, appaloft_op(
        DEPLOYMENT, "Deploy a resource", 201, ID_DATA, (400, *COMMAND_ERRORS),
        body=CreateDeployment,
        description="Runs an immutable snapshot of the resource on serverId (or any healthy"
        " node). 409 while another attempt of it runs, or when it is not ready (plan).")),
    route("GET", "/deployments", index, appaloft_op(
        DEPLOYMENT, "List deployments", 200, "DeploymentAttemptList", (400,),
        query=DeploymentListQuery)),
    route("GET", "/deployments/count", count, appaloft_op(
        DEPLOYMENT, "Count deployments", 200, COUNT_DATA, (400,), query=DeploymentCountQuery)),
    route("GET", "/deployments/{deploymentId}", show, appaloft_op(
        DEPLOYMENT, "Show a deployment", 200, "DeploymentShow", (400, 404),
        query=attempt_views.DeploymentShowQuery,
        description="With its masked snapshot and the timeline of its events.")),
    route("POST", "/deployments/{deploymentId}/retry", retry, appaloft_op(
        DEPLOYMENT, "Retry a failed or canceled deployment", 201, ID_DATA, (400, *COMMAND_ERRORS),
        description="A new attempt runs the same snapshot.")),
    route("POST", "/deployments/{deploymentId}/cancel", cancel, appaloft_op(
        DEPLOYMENT, "Cancel an active deployment", 200, "Cancel", (400, *COMMAND_ERRORS),
        body=CancelDeployment,
        description="confirm must repeat the id. cancel-requested until its node stops it,"
        " then canceled.")),
    route("POST", "/deployments/{deploymentId}/archive", archive, appaloft_op(
        DEPLOYMENT, "Archive a terminal deployment", 200, "Archive", (400, *COMMAND_ERRORS),
        body=ArchiveDeployment,
        description="confirm must repeat the id. Only a succeeded, failed, canceled or"
        " rolled-back attempt (409 while it is active); its status, events and logs stay,"
        " and whatever it runs keeps running. Lists and counts leave it out unless"
        " includeArchived=true; the show still answers it. Archiving it again answers the"
        " same archivedAt.")),
    route("POST", "/deployments/{deploymentId}/rollback", rollback, appaloft_op(
        DEPLOYMENT, "Roll back to an earlier healthy deployment", 201, ID_DATA,
        (400, *COMMAND_ERRORS), body=RollbackDeployment,
        description="A new attempt runs the candidate's snapshot exactly.")),
    route("GET", "/deployments/{deploymentId}/recovery-readiness", recovery_readiness, appaloft_op(
        DEPLOYMENT, "What can be done about a deployment", 200, "RecoveryReadiness", (400, 404),
        query=RecoveryReadinessQuery)),
    route("POST", "/resources/{resourceId}/redeploy", redeploy, appaloft_op(
        DEPLOYMENT, "Redeploy a resource as it is now", 201, ID_DATA, (400, *COMMAND_ERRORS))),
]
