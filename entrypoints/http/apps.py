"""Applications, versions and host profiles (house style): what deployments are made from and
where they may go. Not in any seed; shaped like the Edge Admin resources."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.apps import CreateApp, CreateAppVersion
from application.hosts import UpdateHost
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import STANDARD, ListSpec, parse_list_query, text, time_range
from entrypoints.http.responses import no_content, ok, paginated
from projections.deployment_handlers import version_id
from projections.query import Cond

APPS = ListSpec(params=(*STANDARD, text("name")), sortable=("name", "inserted_at"))
VERSIONS = ListSpec(params=(*time_range("inserted_at"), text("name"), text("image")),
                    sortable=("name", "inserted_at"))
HOSTS = ListSpec(params=(*STANDARD, text("fleet"), text("status"), text("cluster_name")),
                 sortable=("inserted_at", "fleet"))


def app_body(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "version_count", "inserted_at", "updated_at")}


def version_body(row: dict[str, Any]) -> dict[str, Any]:
    env = [{"key": v["key"], "value": None if v["is_hidden"] else v["value"],
            "is_hidden": v["is_hidden"]} for v in json.loads(row["env"])]
    return {"app_name": row["app_name"], "name": row["name"], "image": row["image"],
            "ports": json.loads(row["ports"]), "cpu_units": row["cpu_units"],
            "memory_mb": row["memory_mb"], "env": env, "max_duration": row["max_duration"],
            "command": row["command"], "arguments": row["arguments"],
            "inserted_at": row["inserted_at"]}


def host_body(row: dict[str, Any]) -> dict[str, Any]:
    return {"node_id": row["node_id"], "cluster_name": row.get("cluster_name"),
            "status": row.get("status"), "fleet": row["fleet"],
            "location": json.loads(row["location"] or "{}"), "cpu_units": row["cpu_units"],
            "memory_mb": row["memory_mb"], "allocated_cpu_units": row["allocated_cpu_units"],
            "allocated_memory_mb": row["allocated_memory_mb"],
            "deployment_count": row["deployment_count"],
            "cached_images": [i for i in (row.get("images") or "").split("|") if i],
            "inserted_at": row["inserted_at"], "updated_at": row["updated_at"]}


def _app(svc: Services, name: str) -> dict[str, Any] | None:
    rows = svc.view.select("apps", {"name": name, "deleted": False}, 1)
    return app_body(rows[0]) if rows else None


async def create_app(request: Request) -> Response:
    cmd = await read_body(request, CreateApp)
    svc = services(request)
    await run_in_threadpool(svc.apps.create, cmd)
    return ok(request, await run_in_threadpool(_app, svc, cmd.name), 201)


async def index_apps(request: Request) -> Response:
    query = parse_list_query(request, APPS)
    query = replace(query, filters=(*query.filters, Cond("deleted", "eq", False)))
    page = await run_in_threadpool(services(request).view.query, "apps", query)
    return paginated(request, [app_body(r) for r in page.rows], page, query)


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
    row = await run_in_threadpool(svc.view.get, "app_versions", version_id(name, cmd.name))
    return ok(request, version_body(row) if row else None, 201)


async def index_versions(request: Request) -> Response:
    query = parse_list_query(request, VERSIONS)
    mine = Cond("app_name", "eq", request.path_params["app_name"])
    query = replace(query, filters=(*query.filters, mine))
    page = await run_in_threadpool(services(request).view.query, "app_versions", query)
    return paginated(request, [version_body(r) for r in page.rows], page, query)


async def show_version(request: Request) -> Response:
    key = version_id(request.path_params["app_name"], request.path_params["version"])
    row = await run_in_threadpool(services(request).view.get, "app_versions", key)
    return ok(request, version_body(row)) if row else not_found(request)


async def delete_version(request: Request) -> Response:
    await run_in_threadpool(services(request).apps.remove_version, request.path_params["app_name"],
                            request.path_params["version"])
    return no_content()


async def update_host(request: Request) -> Response:
    node_id = path_uuid(request)
    cmd = await read_body(request, UpdateHost)
    svc = services(request)
    await run_in_threadpool(svc.hosts.update, node_id, cmd)
    row = await run_in_threadpool(svc.view.get, "hosts", node_id)
    return ok(request, host_body(row)) if row else not_found(request)


async def show_host(request: Request) -> Response:
    row = await run_in_threadpool(services(request).view.get, "hosts", path_uuid(request))
    return ok(request, host_body(row)) if row else not_found(request)


async def index_hosts(request: Request) -> Response:
    query = parse_list_query(request, HOSTS)
    page = await run_in_threadpool(services(request).view.query, "hosts", query)
    return paginated(request, [host_body(r) for r in page.rows], page, query)


ROUTES = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps", index_apps, methods=["GET"]),
    Route("/api/v1/apps/{app_name}", show_app, methods=["GET"]),
    Route("/api/v1/apps/{app_name}", delete_app, methods=["DELETE"]),
    Route("/api/v1/apps/{app_name}/versions", create_version, methods=["POST"]),
    Route("/api/v1/apps/{app_name}/versions", index_versions, methods=["GET"]),
    Route("/api/v1/apps/{app_name}/versions/{version}", show_version, methods=["GET"]),
    Route("/api/v1/apps/{app_name}/versions/{version}", delete_version, methods=["DELETE"]),
    Route("/api/v1/hosts", index_hosts, methods=["GET"]),
    Route("/api/v1/nodes/{id}/host", show_host, methods=["GET"]),
    Route("/api/v1/nodes/{id}/host", update_host, methods=["PATCH"]),
]
