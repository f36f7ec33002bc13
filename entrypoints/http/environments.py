"""Appaloft's /environments: create, list, count, show (variables masked), rename, lock,
unlock, archive, clone and promote (a clone of another kind), and the diff of two environments'
variables. Their variables are entrypoints/http/variables.py's."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from application.environments import (
    ArchiveEnvironment,
    CloneEnvironment,
    CreateEnvironment,
    Environments,
    LockEnvironment,
    PromoteEnvironment,
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
from entrypoints.http.responses import JSONResponse
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
    parent_environment_id: Annotated[UUID | None, _d(
        "The environment this one was cloned or promoted from; null: created on its own")]
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


class EnvironmentDiffEntry(AppaloftShape):
    """One variable (key and exposure) of either environment, and what going from the first
    environment to the other does to it"""

    key: str
    exposure: Annotated[str, _d("build-time or runtime")]
    left: Annotated[VariableEntry | None, _d(
        "Its entry in the first environment (environmentId; secrets ****); null: none there")]
    right: Annotated[VariableEntry | None, _d(
        "Its entry in the other environment (otherEnvironmentId); null: none there")]
    change: Annotated[Literal["added", "removed", "changed", "unchanged"], _d(
        "added: only the other has it; removed: only the first has it; changed: both, with"
        " different values (or one secret, one plain); two secrets are compared by value"
        " without showing either")]


SHAPES = (EnvironmentResponse, EnvironmentListResponse, EnvironmentDiffEntry)
# Named responses that are not objects: component name -> type.
NAMED: dict[str, Any] = {"EnvironmentDiffResponse": Annotated[list[EnvironmentDiffEntry], _d(
    "Every variable either environment has, by key then exposure")]}


def shape(record: EnvironmentRecord, reads: ResourceReads) -> EnvironmentResponse:
    own = layer(reads.variables_of(record.id))
    status = record.lifecycle_status
    return EnvironmentResponse(
        id=record.id, project_id=record.project_id, name=record.name, kind=record.kind,
        parent_environment_id=record.parent_environment_id,
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


def _diff(svc: Services, environment_id: UUID, other_id: UUID) -> list[EnvironmentDiffEntry]:
    reads = svc.resource_reads
    left, right = (layer(reads.variables_of(found(reads.environments.get(i), "environment", i).id))
                   for i in (environment_id, other_id))
    return [EnvironmentDiffEntry(
        key=(before or after or {})["key"], exposure=(before or after or {})["exposure"],
        left=None if before is None else shown(before, "environment"),
        right=None if after is None else shown(after, "environment"), change=change)
        for before, after, change in svc.environments.diff(left, right)]


async def diff(request: Request) -> Response:
    environment_id = path_uuid(request, _ID)
    other_id = path_uuid(request, "otherEnvironmentId")
    return JSONResponse(await run(_diff, services(request), environment_id, other_id))


create = _COMMANDS.create(Environments.create, CreateEnvironment)
rename = _COMMANDS.item(Environments.rename, RenameEnvironment)
lock = _COMMANDS.item(Environments.lock, LockEnvironment)
unlock = _COMMANDS.item(Environments.unlock)
archive = _COMMANDS.item(Environments.archive, ArchiveEnvironment)
clone = _COMMANDS.item(Environments.clone, CloneEnvironment, status=201)
promote = _COMMANDS.item(Environments.promote, PromoteEnvironment, status=201)


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
    route("POST", "/environments/{environmentId}/promote", promote, appaloft_op(
        ENVIRONMENT, "Promote an environment's configuration into a new environment", 201,
        ID_DATA, (400, *COMMAND_ERRORS), body=PromoteEnvironment,
        description="A clone of another kind: a new active environment (its id is the answer)"
        " named `targetName`, of kind `targetKind`, in the same project, with this one's"
        " variables (secrets stay sealed, never shown). Resources and deployments are not"
        " copied. Only an active environment is promoted: a locked or archived one is a 409,"
        " as is a name taken in the project.")),
    route("GET", "/environments/{environmentId}/diff/{otherEnvironmentId}", diff, appaloft_op(
        ENVIRONMENT, "Compare two environments' variables", 200, "EnvironmentDiff", (400, 404),
        description="A bare array: every variable (key and exposure) either environment sets"
        " itself, with its entry on each side (null where absent; secrets ****) and `change`."
        " Secrets are compared by value, which is never shown. Archived and locked"
        " environments are compared too; an environment compared with itself is all"
        " `unchanged`.")),
]
