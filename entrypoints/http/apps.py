"""Applications, versions and host profiles (house style): what deployments are made from and
where they may go. Not in any seed; shaped like the Edge Admin resources, whose response Structs
(SHAPES) the OpenAPI document takes its schemas from."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Literal
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.agent_protocol import Location
from application.apps import CreateApp, CreateAppVersion
from application.hosts import UpdateHost
from domain.node_status import NodeStatus
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, parse_list_query, text, time_range
from entrypoints.http.openapi.deployments import APPS as APPS_TAG
from entrypoints.http.openapi.deployments import HOSTS as HOSTS_TAG
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import no_content, ok, paginated
from entrypoints.http.routing import route
from entrypoints.http.serializers import Created, Shape, Timestamped, described
from projections.deployment_tables import AppRecord, AppVersionRecord, HostRecord
from projections.query import Cond

APPS = ListSpec(params=(*STANDARD, text("name")), sortable=("name", "inserted_at"),
                docs={"name": "Filter by name (exact or wildcard)"})
VERSIONS = ListSpec(params=(*time_range("inserted_at"), text("name"), text("image")),
                    sortable=("name", "inserted_at"),
                    docs={"name": "Filter by version name", "image": "Filter by image"})
HOSTS = ListSpec(params=(*STANDARD, text("fleet"), text("status"), text("cluster_name")),
                 sortable=("inserted_at", "fleet"),
                 docs={"fleet": "Filter by private fleet", "status": "Filter by node status",
                       "cluster_name": "Filter by the node's cluster"})
_d = described
CpuUnits = Annotated[int, _d("1024 units = 1 vCPU")]


class AppResponse(Timestamped):
    """An application"""

    id: Annotated[UUID, _d("Application ID")]
    name: Annotated[str, _d("Application name (lowercase letters, digits, hyphens)")]
    version_count: Annotated[int, _d("Number of registered versions")]


class VersionPort(Shape):
    """A container port the version publishes"""

    port: int
    protocol: Literal["TCP", "UDP", "TCP/UDP", "HTTP", "HTTPS", "WS", "WSS"]
    name: Annotated[str, _d("Its key in a deployment's ports (the port number if unnamed)")]
    tls_upgrade: bool


class VersionEnvVar(Shape):
    """An environment variable given to the container"""

    key: str
    value: Annotated[str | None, _d("null when hidden")]
    is_hidden: bool


class AppVersionResponse(Shape):
    """A version: what a deployment of it runs"""

    app_name: str
    name: Annotated[str, _d("Version name")]
    image: Annotated[str, _d("Container image reference")]
    ports: list[VersionPort]
    cpu_units: CpuUnits
    memory_mb: int
    env: list[VersionEnvVar]
    max_duration: Annotated[int, _d("Minutes before a deployment is stopped; 0: no limit")]
    command: Annotated[str | None, _d("Overrides the image's entrypoint")]
    arguments: Annotated[str | None, _d("Overrides the image's command")]
    inserted_at: Created


class HostResponse(Timestamped):
    """A node's placement profile: location, capacity, fleet, what is allocated and which
    images it holds"""

    node_id: Annotated[UUID, _d("Node ID")]
    cluster_name: Annotated[str | None, _d("The node's cluster; null once the node is gone")]
    status: Annotated[NodeStatus | None, _d("The node's status; only healthy nodes get"
                                            " deployments")]
    fleet: Annotated[str | None, _d("Private fleet name (null: none)")]
    location: Annotated[Location, _d("Where the node is; unset parts are left out")]
    cpu_units: CpuUnits
    memory_mb: int
    allocated_cpu_units: CpuUnits
    allocated_memory_mb: int
    deployment_count: Annotated[int, _d("Deployments holding room on the node")]
    cached_images: Annotated[list[str], _d("Image references the agent reported")]


SHAPES = (AppResponse, AppVersionResponse, HostResponse)


def app_body(app: AppRecord) -> AppResponse:
    return AppResponse(id=app.id, name=app.name, version_count=app.version_count,
                       inserted_at=app.inserted_at, updated_at=app.updated_at)


def version_body(version: AppVersionRecord) -> AppVersionResponse:
    env = [VersionEnvVar(key=v["key"], value=None if v["is_hidden"] else v["value"],
                         is_hidden=v["is_hidden"]) for v in json.loads(version.env)]
    ports = [VersionPort(**{f: p.get(f) for f in VersionPort.__struct_fields__})
             for p in json.loads(version.ports)]
    return AppVersionResponse(
        app_name=version.app_name, name=version.name, image=version.image, ports=ports,
        cpu_units=version.cpu_units, memory_mb=version.memory_mb, env=env,
        max_duration=version.max_duration, command=version.command, arguments=version.arguments,
        inserted_at=version.inserted_at)


def host_body(host: HostRecord) -> HostResponse:
    place = json.loads(host.location or "{}")
    return HostResponse(
        node_id=host.node_id, cluster_name=host.cluster_name, status=host.status,
        fleet=host.fleet, location=Location(**{k: place.get(k) for k in
                                               Location.__struct_fields__}),
        cpu_units=host.cpu_units, memory_mb=host.memory_mb,
        allocated_cpu_units=host.allocated_cpu_units,
        allocated_memory_mb=host.allocated_memory_mb,
        deployment_count=host.deployment_count,
        cached_images=[i for i in (host.images or "").split("|") if i],
        inserted_at=host.inserted_at, updated_at=host.updated_at)


def _app(svc: Services, name: str) -> AppResponse | None:
    found = svc.deployment_reads.app_named(name)
    return app_body(found) if found else None


async def create_app(request: Request) -> Response:
    cmd = await read_body(request, CreateApp)
    svc = services(request)
    await run_in_threadpool(svc.apps.create, cmd)
    return ok(request, await run_in_threadpool(_app, svc, cmd.name), 201)


async def index_apps(request: Request) -> Response:
    query = parse_list_query(request, APPS)
    query = replace(query, filters=(*query.filters, Cond("deleted", "eq", False)))
    page = await run_in_threadpool(services(request).deployment_reads.apps.page, query)
    return paginated(request, [app_body(r) for r in page.records], page, query)


async def show_app(request: Request) -> Response:
    found = await run_in_threadpool(_app, services(request), request.path_params["app_name"])
    return ok(request, found) if found else not_found(request)


async def delete_app(request: Request) -> Response:
    await run_in_threadpool(services(request).apps.delete, request.path_params["app_name"])
    return no_content()


async def create_version(request: Request) -> Response:
    cmd = await read_body(request, CreateAppVersion)
    svc, name = services(request), request.path_params["app_name"]
    await run_in_threadpool(svc.apps.add_version, name, cmd)
    found = await run_in_threadpool(svc.deployment_reads.version, name, cmd.name)
    return ok(request, version_body(found) if found else None, 201)


async def index_versions(request: Request) -> Response:
    query = parse_list_query(request, VERSIONS)
    mine = Cond("app_name", "eq", request.path_params["app_name"])
    query = replace(query, filters=(*query.filters, mine))
    page = await run_in_threadpool(services(request).deployment_reads.app_versions.page, query)
    return paginated(request, [version_body(r) for r in page.records], page, query)


async def show_version(request: Request) -> Response:
    found = await run_in_threadpool(services(request).deployment_reads.version,
                                    request.path_params["app_name"],
                                    request.path_params["version"])
    return ok(request, version_body(found)) if found else not_found(request)


async def delete_version(request: Request) -> Response:
    await run_in_threadpool(services(request).apps.remove_version, request.path_params["app_name"],
                            request.path_params["version"])
    return no_content()


async def update_host(request: Request) -> Response:
    node_id = path_uuid(request)
    cmd = await read_body(request, UpdateHost)
    svc = services(request)
    await run_in_threadpool(svc.hosts.update, node_id, cmd)
    found = await run_in_threadpool(svc.deployment_reads.hosts.get, node_id)
    return ok(request, host_body(found)) if found else not_found(request)


async def show_host(request: Request) -> Response:
    found = await run_in_threadpool(services(request).deployment_reads.hosts.get,
                                    path_uuid(request))
    return ok(request, host_body(found)) if found else not_found(request)


async def index_hosts(request: Request) -> Response:
    query = parse_list_query(request, HOSTS)
    page = await run_in_threadpool(services(request).deployment_reads.hosts.page, query)
    return paginated(request, [host_body(r) for r in page.records], page, query)


ROUTES = [
    route("POST", "/api/v1/apps", create_app, Op(
        APPS_TAG, "Create an application", 201, "App", (400, 409, 422), CreateApp)),
    route("GET", "/api/v1/apps", index_apps, Op(
        APPS_TAG, "List applications", 200, "App", (400,), listing=APPS)),
    route("GET", "/api/v1/apps/{app_name}", show_app, Op(
        APPS_TAG, "Get an application", 200, "App", (404,))),
    route("DELETE", "/api/v1/apps/{app_name}", delete_app, Op(
        APPS_TAG, "Delete an application", 204, None, (404, 409),
        description="409 while it has versions.")),
    route("POST", "/api/v1/apps/{app_name}/versions", create_version, Op(
        APPS_TAG, "Register a version", 201, "AppVersion", (400, 404, 409, 422), CreateAppVersion)),
    route("GET", "/api/v1/apps/{app_name}/versions", index_versions, Op(
        APPS_TAG, "List versions", 200, "AppVersion", (400, 404), listing=VERSIONS)),
    route("GET", "/api/v1/apps/{app_name}/versions/{version}", show_version, Op(
        APPS_TAG, "Get a version", 200, "AppVersion", (404,))),
    route("DELETE", "/api/v1/apps/{app_name}/versions/{version}", delete_version, Op(
        APPS_TAG, "Delete a version", 204, None, (404,))),
    route("GET", "/api/v1/hosts", index_hosts, Op(
        HOSTS_TAG, "List host profiles", 200, "Host", (400,), listing=HOSTS)),
    route("GET", "/api/v1/nodes/{id}/host", show_host, Op(
        HOSTS_TAG, "Get a node's host profile", 200, "Host", (400, 404))),
    route("PATCH", "/api/v1/nodes/{id}/host", update_host, Op(
        HOSTS_TAG, "Set a node's location, capacity and fleet", 200, "Host", (400, 404, 422),
        UpdateHost, description="Creates the profile on first use; 1024 cpu units = 1 vCPU.")),
]
