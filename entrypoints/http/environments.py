"""Appaloft's /environments: create, list, count, show (variables masked), rename, lock,
unlock and archive. Their variables are entrypoints/http/variables.py's."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from application.environments import (
    ArchiveEnvironment,
    CloneEnvironment,
    CreateEnvironment,
    Environments,
    LockEnvironment,
    RenameEnvironment,
)
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Commands,
    Limit,
    ProjectFilter,
    Query,
    Reads,
    VariableEntry,
    answer,
    found,
    layer,
    run,
    shown,
)
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import (
    COMMAND_ERRORS,
    COUNT_DATA,
    ENVIRONMENT,
    ID_DATA,
    LOCKED,
    appaloft_op,
)
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from projections.resource_reads import ResourceReads
from projections.resource_tables import EnvironmentRecord

_d = described
_ID = "environmentId"  # the path parameter
_READS = Reads(__name__)
_COMMANDS = Commands(__name__, lambda svc: svc.environments, _ID)


class EnvironmentCountQuery(Query):
    project_id: ProjectFilter = None


class EnvironmentListQuery(EnvironmentCountQuery):
    limit: Limit = 100


class EnvironmentResponse(AppaloftShape):
    """An environment of a project (local, staging, production...)"""

    id: Annotated[UUID, _d("Environment id")]
    project_id: UUID
    name: str
    kind: str
    parent_environment_id: Annotated[None, _d("Always null: environments are not cloned")]
    lifecycle_status: Annotated[Literal["active", "locked", "archived"],
                                _d("locked: readable, refuses every change but unlock")]
    locked_at: Moment | None
    lock_reason: str | None
    archived_at: Moment | None
    archive_reason: str | None
    created_at: Moment
    masked_variables: Annotated[list[VariableEntry], _d("Its own variables; secrets ****")]


class EnvironmentListResponse(AppaloftShape):
    """Environments, oldest first"""

    items: list[EnvironmentResponse]


SHAPES = (EnvironmentResponse, EnvironmentListResponse)


def shape(record: EnvironmentRecord, reads: ResourceReads) -> EnvironmentResponse:
    own = layer(reads.variables_of(record.id))
    status = record.lifecycle_status
    return EnvironmentResponse(
        id=record.id, project_id=record.project_id, name=record.name, kind=record.kind,
        parent_environment_id=None,
        lifecycle_status="locked" if status == "locked" else (
            "archived" if status == "archived" else "active"),
        locked_at=record.locked_at, lock_reason=record.lock_reason,
        archived_at=record.archived_at, archive_reason=record.archive_reason,
        created_at=record.inserted_at,
        masked_variables=[shown(entry, "environment") for entry in own.values()])


def _show(reads: ResourceReads, environment_id: UUID) -> EnvironmentResponse:
    record = found(reads.environments.get(environment_id), "environment", environment_id)
    return shape(record, reads)


def _list(svc: Services, query: EnvironmentListQuery) -> EnvironmentListResponse:
    reads = svc.resource_reads
    return EnvironmentListResponse(
        items=[shape(r, reads) for r in reads.environment_list(query.project_id, query.limit)])


index = _READS.index(EnvironmentListQuery, _list)
count = _READS.count(EnvironmentCountQuery,
                     lambda svc, query: svc.resource_reads.environment_count(query.project_id))


async def show(request: Request) -> Response:
    environment_id = path_uuid(request, _ID)
    environment = await run(_show, services(request).resource_reads, environment_id)
    return answer(environment)


create = _COMMANDS.create(Environments.create, CreateEnvironment)
rename = _COMMANDS.item(Environments.rename, RenameEnvironment)
lock = _COMMANDS.item(Environments.lock, LockEnvironment)
unlock = _COMMANDS.item(Environments.unlock)
archive = _COMMANDS.item(Environments.archive, ArchiveEnvironment)
clone = _COMMANDS.item(Environments.clone, CloneEnvironment, status=201)


ROUTES = [
    route("POST", "/environments", create, appaloft_op(
        ENVIRONMENT, "Create an environment", 201, ID_DATA, COMMAND_ERRORS, body=CreateEnvironment,
        description="In an active project; the name is unique in it.")),
    route("GET", "/environments", index, appaloft_op(
        ENVIRONMENT, "List environments", 200, "EnvironmentList", (400,),
        query=EnvironmentListQuery)),
    route("GET", "/environments/count", count, appaloft_op(
        ENVIRONMENT, "Count environments", 200, COUNT_DATA, (400,), query=EnvironmentCountQuery)),
    route("GET", "/environments/{environmentId}", show, appaloft_op(
        ENVIRONMENT, "Show an environment", 200, "Environment", (400, 404))),
    route("POST", "/environments/{environmentId}/rename", rename, appaloft_op(
        ENVIRONMENT, "Rename an environment", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=RenameEnvironment, description=LOCKED)),
    route("POST", "/environments/{environmentId}/lock", lock, appaloft_op(
        ENVIRONMENT, "Lock an environment", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=LockEnvironment,
        description="Every change in it (its variables, its resources, their deployments)"
        " is refused with 409 until unlocked.")),
    route("POST", "/environments/{environmentId}/unlock", unlock, appaloft_op(
        ENVIRONMENT, "Unlock an environment", 200, ID_DATA, (400, *COMMAND_ERRORS))),
    route("POST", "/environments/{environmentId}/archive", archive, appaloft_op(
        ENVIRONMENT, "Archive an environment", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=ArchiveEnvironment, description="For good; it stays readable." + LOCKED)),
    route("POST", "/environments/{environmentId}/clone", clone, appaloft_op(
        ENVIRONMENT, "Clone an environment into a new one", 201, ID_DATA,
        (400, *COMMAND_ERRORS), body=CloneEnvironment,
        description="The new environment (its id is the answer) has the same project, kind"
        " and variables (secrets stay sealed, never shown). Only an active environment is"
        " cloned: a locked or archived one is a 409, as is a name taken in the project.")),
]
