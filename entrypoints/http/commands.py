"""Commands.Command endpoints: create (targets resolved once), list, get, delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.commands import CreateCommand
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    int_range,
    parse_list_query,
    presence,
    text,
    time_range,
)
from entrypoints.http.responses import no_content, ok, paginated

SPEC = ListSpec(
    params=(
        *STANDARD,
        text("command_text"),
        *time_range("expired_at"),
        presence("has_expired_at", "expired_at"),
        presence("has_timeout", "timeout"),
        *int_range("timeout"),
    ),
    sortable=("command_text", "timeout", "expired_at", "inserted_at", "updated_at"),
)


def render(svc: Services, command_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("commands", command_id)
    return serializers.command(row) if row else None


async def create(request: Request) -> Response:
    cmd = await read_body(request, CreateCommand)
    svc = services(request)
    command_id = await run_in_threadpool(svc.commands.create, cmd)
    return ok(request, await run_in_threadpool(render, svc, command_id), 201)


async def index(request: Request) -> Response:
    query = parse_list_query(request, SPEC)
    page = await run_in_threadpool(services(request).view.query, "commands", query)
    return paginated(request, [serializers.command(r) for r in page.rows], page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).commands.delete, path_uuid(request))
    return no_content()


ROUTES = [
    Route("/api/v1/commands", create, methods=["POST"]),
    Route("/api/v1/commands", index, methods=["GET"]),
    Route("/api/v1/commands/{id}", show, methods=["GET"]),
    Route("/api/v1/commands/{id}", delete, methods=["DELETE"]),
]
