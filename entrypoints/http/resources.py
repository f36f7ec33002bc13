"""Appaloft's /resources: create, list, count, show (`resources.show/v1`), the source image,
runtime, network and health profiles, archive, and delete confirmed by the slug (refused with
its blockers while an attempt runs). Variables and secrets are entrypoints/http/variables.py's.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from application.resources import (
    ConfigureHealthPolicy,
    ConfigureNetworkProfile,
    ConfigureRollbackPolicy,
    ConfigureRuntimeProfile,
    ConfigureSource,
    CreateResource,
    DeleteResource,
    Resources,
)
from entrypoints.bootstrap import Services
from entrypoints.http import runtime_control_views
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Commands,
    EnvironmentFilter,
    HealthPolicyView,
    Limit,
    ProjectFilter,
    Query,
    Reads,
    answer,
    found,
    generated_at,
    health_view,
    read_query,
    run,
)
from entrypoints.http.attempt_views import LatestDeployment, latest_fields
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import (
    COMMAND_ERRORS,
    COUNT_DATA,
    ID_DATA,
    LOCKED,
    RESOURCE,
    appaloft_op,
)
from entrypoints.http.resource_profile_views import (
    NetworkProfileView,
    RuntimeProfileView,
    SourceView,
    network_view,
    runtime_view,
    source_view,
)
from entrypoints.http.routing import route
from entrypoints.http.runtime_control_views import RuntimeControlAttemptResponse
from entrypoints.http.serializers import Moment, described
from projections.resource_reads import ResourceReads
from projections.resource_tables import AttemptRecord, ResourceRecord
from projections.runtime_controls import RuntimeControlRecord

_d = described
_ID = "resourceId"  # the path parameter
_READS = Reads(__name__)
_COMMANDS = Commands(__name__, lambda svc: svc.resources, _ID)


class ResourceCountQuery(Query):
    project_id: ProjectFilter = None
    environment_id: EnvironmentFilter = None
    include_preview_resources: Annotated[bool, _d("Accepted for Appaloft's clients: no preview"
                                                  " resources here")] = False


class ResourceListQuery(ResourceCountQuery):
    limit: Limit = 100


class ResourceShowQuery(Query):
    include_latest_deployment: Annotated[bool, _d("Show latestDeployment (default true)")] = True
    include_access_summary: Annotated[bool, _d("Accepted: accessSummary is always null here"
                                               " (no proxy)")] = True
    include_profile_diagnostics: Annotated[bool, _d("Accepted: no profile drift is diagnosed"
                                                    " here (diagnostics stays empty)")] = True


class ResourceSummary(AppaloftShape):
    """A resource (an app) in an environment"""

    id: Annotated[UUID, _d("Resource id")]
    project_id: UUID
    environment_id: UUID
    destination_id: None
    name: str
    slug: Annotated[str, _d("Confirms a delete")]
    kind: Literal["application"]
    description: str
    created_at: Moment
    services: list[str]
    deployment_count: int
    last_deployment_id: UUID | None
    last_deployment_status: Annotated[str | None, _d("That attempt's status now")]


class ResourceListItem(ResourceSummary):
    network_profile: NetworkProfileView
    access_profile: Annotated[None, _d("No proxy or generated access here: null")]
    latest_runtime_control: Annotated[RuntimeControlAttemptResponse | None, _d(
        "Its latest runtime stop, start or restart; null: none yet")]
    access_summary: Annotated[None, _d("No proxy or generated access here: null")]


class ResourceListResponse(AppaloftShape):
    """Resources, oldest first"""

    items: list[ResourceListItem]


class RollbackPolicyView(AppaloftShape):
    automatic: Annotated[bool, _d("A failed attempt is rolled back to the last healthy one"
                                  " (ours: the seed names no such setting)")]


class Lifecycle(AppaloftShape):
    status: Annotated[str, _d("active or archived")]
    archived_at: Moment | None
    deleted_at: None


class ResourceShowResponse(AppaloftShape):
    """A resource's desired configuration and its latest attempt"""

    schema_version: Literal["resources.show/v1"]
    resource: ResourceSummary
    source: SourceView
    auto_deploy_policy: None
    runtime_profile: RuntimeProfileView
    network_profile: NetworkProfileView
    access_profile: None
    health_policy: HealthPolicyView
    rollback_policy: RollbackPolicyView
    storage_attachments: list[str]
    access_summary: None
    latest_deployment: LatestDeployment | None
    lifecycle: Lifecycle
    diagnostics: list[str]
    generated_at: Moment


SHAPES = (ResourceListResponse, ResourceShowResponse)


def _last(reads: ResourceReads, record: ResourceRecord) -> AttemptRecord | None:
    if record.last_deployment_id is None:
        return None
    return reads.attempts.get(record.last_deployment_id)


def _summary(record: ResourceRecord, last: AttemptRecord | None) -> dict[str, Any]:
    return {"id": record.id, "project_id": record.project_id,
            "environment_id": record.environment_id, "destination_id": None,
            "name": record.name, "slug": record.slug, "kind": "application",
            "description": record.description, "created_at": record.inserted_at,
            "services": [], "deployment_count": record.deployment_count,
            "last_deployment_id": record.last_deployment_id,
            "last_deployment_status": None if last is None else str(last.status)}


def _list(svc: Services, query: ResourceListQuery) -> ResourceListResponse:
    reads = svc.resource_reads
    return ResourceListResponse(items=[
        ResourceListItem(**_summary(r, _last(reads, r)), network_profile=network_view(r),
                         access_profile=None,
                         latest_runtime_control=_control(reads.latest_runtime_control(r.id)),
                         access_summary=None)
        for r in reads.resource_list(query.project_id, query.environment_id, query.limit)])


def _control(record: RuntimeControlRecord | None) -> RuntimeControlAttemptResponse | None:
    return None if record is None else runtime_control_views.shape(record)


def _show(reads: ResourceReads, resource_id: UUID, include: ResourceShowQuery,
          now: datetime) -> ResourceShowResponse:
    record = found(reads.resources.get(resource_id), "resource", resource_id)
    last = _last(reads, record)
    latest = None if last is None else LatestDeployment(**latest_fields(last))
    health = health_view(json.loads(record.health))
    return ResourceShowResponse(
        schema_version="resources.show/v1", resource=ResourceSummary(**_summary(record, last)),
        source=source_view(record.image), auto_deploy_policy=None,
        runtime_profile=runtime_view(record, health),
        network_profile=network_view(record), access_profile=None,
        health_policy=health,
        rollback_policy=RollbackPolicyView(automatic=record.automatic_rollback),
        storage_attachments=[],
        access_summary=None, latest_deployment=latest if include.include_latest_deployment
        else None,
        lifecycle=Lifecycle(status=record.lifecycle_status, archived_at=record.archived_at,
                            deleted_at=None),
        diagnostics=[], generated_at=now)


index = _READS.index(ResourceListQuery, _list)
count = _READS.count(ResourceCountQuery, lambda svc, query: svc.resource_reads.resource_count(
    query.project_id, query.environment_id))


async def show(request: Request) -> Response:
    resource_id = path_uuid(request, _ID)
    include = read_query(request, ResourceShowQuery)
    return answer(await run(_show, services(request).resource_reads, resource_id, include,
                            generated_at(request)))


delete = _COMMANDS.item(Resources.delete, DeleteResource)


create = _COMMANDS.create(Resources.create, CreateResource)
archive = _COMMANDS.item(Resources.archive)
configure_source = _COMMANDS.item(Resources.configure_source, ConfigureSource)
configure_runtime = _COMMANDS.item(Resources.configure_runtime, ConfigureRuntimeProfile)
configure_network = _COMMANDS.item(Resources.configure_network, ConfigureNetworkProfile)
configure_health = _COMMANDS.item(Resources.configure_health, ConfigureHealthPolicy)
configure_rollback = _COMMANDS.item(Resources.configure_rollback, ConfigureRollbackPolicy)
reset_health = _COMMANDS.item(Resources.reset_health)


ROUTES = [
    route("POST", "/resources", create, appaloft_op(
        RESOURCE, "Create a resource", 201, ID_DATA, COMMAND_ERRORS, body=CreateResource,
        description="The slug is derived from the name and unique in its environment."
        + LOCKED)),
    route("GET", "/resources", index, appaloft_op(
        RESOURCE, "List resources", 200, "ResourceList", (400,), query=ResourceListQuery)),
    route("GET", "/resources/count", count, appaloft_op(
        RESOURCE, "Count resources", 200, COUNT_DATA, (400,), query=ResourceCountQuery)),
    route("GET", "/resources/{resourceId}", show, appaloft_op(
        RESOURCE, "Show a resource", 200, "ResourceShow", (400, 404), query=ResourceShowQuery)),
    route("DELETE", "/resources/{resourceId}", delete, appaloft_op(
        RESOURCE, "Delete a resource", 200, ID_DATA, (400, *COMMAND_ERRORS), body=DeleteResource,
        description="Confirmed by its slug. 409 while an attempt is in progress: details"
        " name the blocking deployment ids (blockers). The container still serving is"
        " stopped. 409 when its environment is locked; an archived one allows it (cleaning"
        " up).")),
    route("POST", "/resources/{resourceId}/archive", archive, appaloft_op(
        RESOURCE, "Archive a resource", 200, ID_DATA, (400, *COMMAND_ERRORS))),
    route("POST", "/resources/{resourceId}/source", configure_source, appaloft_op(
        RESOURCE, "Configure the source (a container image)", 200, ID_DATA,
        (400, 403, *COMMAND_ERRORS), body=ConfigureSource,
        description="Any kind but docker-image (a folder, a repository...) needs a build: 403"
        " forbidden, details.feature builds, nothing recorded. An image source takes no"
        " baseDirectory or metadata (422).")),
    route("POST", "/resources/{resourceId}/runtime-profile", configure_runtime, appaloft_op(
        RESOURCE, "Configure the command and arguments", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=ConfigureRuntimeProfile)),
    route("POST", "/resources/{resourceId}/network-profile", configure_network, appaloft_op(
        RESOURCE, "Configure the internal port and protocol", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=ConfigureNetworkProfile)),
    route("POST", "/resources/{resourceId}/health-policy", configure_health, appaloft_op(
        RESOURCE, "Configure the health check", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=ConfigureHealthPolicy,
        description="HTTP (path, expected status) or TCP; an attempt succeeds only after it"
        " passes.")),
    route("POST", "/resources/{resourceId}/health-policy/reset", reset_health, appaloft_op(
        RESOURCE, "Reset the health check (off)", 200, ID_DATA, (400, *COMMAND_ERRORS))),
    route("POST", "/resources/{resourceId}/rollback-policy", configure_rollback, appaloft_op(
        RESOURCE, "Configure automatic rollback", 200, ID_DATA, (400, *COMMAND_ERRORS),
        body=ConfigureRollbackPolicy,
        description="Ours (the seed names no such setting): with automatic true, an attempt"
        " that fails is rolled back at once to the last healthy one"
        " (edge.resource.automatic_rollback_decided); a rollback that fails is not rolled back"
        " again.")),
]
