"""Appaloft's /projects: create, list, count, show, rename, describe, archive, restore, the
delete-check and delete, in Appaloft's wire format (entrypoints/http/appaloft_views.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from application.projects import (
    ArchiveProject,
    CreateProject,
    DeleteProject,
    DescribeProject,
    Projects,
    RenameProject,
)
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Commands,
    LimitQuery,
    NoQuery,
    Reads,
    answer,
    found,
    generated_at,
    run,
)
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import (
    COMMAND_ERRORS,
    COUNT_DATA,
    ID_DATA,
    PROJECT,
    appaloft_op,
)
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from projections.resource_tables import ProjectRecord

_d = described
_ID = "projectId"  # the path parameter
_READS = Reads(__name__)
_COMMANDS = Commands(__name__, lambda svc: svc.projects, _ID)


class ProjectResponse(AppaloftShape):
    """A project: a named group of environments"""

    id: Annotated[UUID, _d("Project id")]
    organization_id: Annotated[None, _d("Always null: one organization per installation")]
    name: str
    slug: Annotated[str, _d("Derived from the name at create; kept on rename")]
    description: str
    lifecycle_status: Annotated[Literal["active", "archived"], _d("active or archived")]
    archived_at: Moment | None
    archive_reason: str | None
    created_at: Moment


class ProjectListResponse(AppaloftShape):
    """Projects, oldest first"""

    items: list[ProjectResponse]


class DeleteBlocker(AppaloftShape):
    kind: Annotated[str, _d("active-project: archive it first; active-resource: delete that"
                            " resource first (one blocker a resource)")]
    related_entity_id: str
    related_entity_type: str
    count: int


class ProjectDeleteCheckResponse(AppaloftShape):
    """Whether the project can be deleted now, and what blocks it"""

    schema_version: Literal["projects.delete-check/v1"]
    project_id: UUID
    lifecycle_status: str
    eligible: bool
    blockers: list[DeleteBlocker]
    checked_at: Moment


SHAPES = (ProjectResponse, ProjectListResponse, ProjectDeleteCheckResponse)


def shape(record: ProjectRecord) -> ProjectResponse:
    return ProjectResponse(
        id=record.id, organization_id=None, name=record.name, slug=record.slug,
        description=record.description,
        lifecycle_status="archived" if record.lifecycle_status == "archived" else "active",
        archived_at=record.archived_at, archive_reason=record.archive_reason,
        created_at=record.inserted_at)


def _project(request: Request) -> ProjectRecord:
    project_id = path_uuid(request, _ID)
    return found(services(request).resource_reads.projects.get(project_id), "project",
                 project_id)


def _list(svc: Services, query: LimitQuery) -> ProjectListResponse:
    return ProjectListResponse(
        items=[shape(r) for r in svc.resource_reads.project_list(query.limit)])


index = _READS.index(LimitQuery, _list)
count = _READS.count(NoQuery, lambda svc, _: svc.resource_reads.project_count())


async def show(request: Request) -> Response:
    return answer(shape(await run(_project, request)))


create = _COMMANDS.create(Projects.create, CreateProject)
rename = _COMMANDS.item(Projects.rename, RenameProject)
describe = _COMMANDS.item(Projects.describe, DescribeProject)
archive = _COMMANDS.item(Projects.archive, ArchiveProject)
restore = _COMMANDS.item(Projects.restore)
delete = _COMMANDS.item(Projects.delete, DeleteProject)


def blockers_of(record: ProjectRecord, resource_ids: list[UUID]) -> list[DeleteBlocker]:
    """Projects.delete's rules, read: only an archived project, and only once its resources
    are deleted."""
    active = [] if record.lifecycle_status == "archived" else [DeleteBlocker(
        kind="active-project", related_entity_id=str(record.id),
        related_entity_type="project", count=1)]
    return active + [DeleteBlocker(kind="active-resource", related_entity_id=str(r),
                                   related_entity_type="resource", count=1)
                     for r in resource_ids]


def _check(request: Request) -> tuple[ProjectRecord, list[UUID]]:
    record = _project(request)
    return record, services(request).resource_reads.resource_ids(record.id)


async def delete_check(request: Request) -> Response:
    record, resource_ids = await run(_check, request)
    blockers = blockers_of(record, resource_ids)
    now: datetime = generated_at(request)
    return answer(ProjectDeleteCheckResponse(
        schema_version="projects.delete-check/v1", project_id=record.id,
        lifecycle_status=record.lifecycle_status, eligible=not blockers, blockers=blockers,
        checked_at=now))


ROUTES = [
    route("POST", "/projects", create, appaloft_op(
        PROJECT, "Create a project", 201, ID_DATA, (409, 422, 503), body=CreateProject,
        description="The slug is derived from the name and unique.")),
    route("GET", "/projects", index, appaloft_op(
        PROJECT, "List projects", 200, "ProjectList", (400,), query=LimitQuery)),
    route("GET", "/projects/count", count, appaloft_op(
        PROJECT, "Count projects", 200, COUNT_DATA, (400,))),
    route("GET", "/projects/{projectId}", show, appaloft_op(
        PROJECT, "Show a project", 200, "Project", (400, 404))),
    route("DELETE", "/projects/{projectId}", delete, appaloft_op(
        PROJECT, "Delete a project", 200, ID_DATA, (400, *COMMAND_ERRORS), body=DeleteProject,
        description="Only an archived project whose resources are deleted (see delete-check;"
        " 409 with details.blockers, the resource ids, while it has any); confirmation.projectId"
        " must repeat the id. Its environments, archived and locked ones too, are deleted with"
        " it: they answer 404 and are no longer listed.")),
    route("POST", "/projects/{projectId}/rename", rename, appaloft_op(
        PROJECT, "Rename a project", 200, ID_DATA, (400, *COMMAND_ERRORS), body=RenameProject)),
    route("POST", "/projects/{projectId}/description", describe, appaloft_op(
        PROJECT, "Set or clear a project's description", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=DescribeProject)),
    route("POST", "/projects/{projectId}/archive", archive, appaloft_op(
        PROJECT, "Archive a project", 200, ID_DATA, (400, *COMMAND_ERRORS), body=ArchiveProject)),
    route("POST", "/projects/{projectId}/restore", restore, appaloft_op(
        PROJECT, "Restore an archived project", 200, ID_DATA, (400, *COMMAND_ERRORS))),
    route("GET", "/projects/{projectId}/delete-check", delete_check, appaloft_op(
        PROJECT, "Whether a project can be deleted", 200, "ProjectDeleteCheck", (400, 404))),
]
