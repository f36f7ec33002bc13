"""Events.Webhook endpoints: create, list, get, delete (immutable; secrets write-only)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.webhooks import CreateWebhook
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    Param,
    parse_event_type,
    parse_list_query,
    text,
)
from entrypoints.http.responses import no_content, ok, paginated
from projections.fleet_tables import split_events
from projections.query import Cond

SPEC = ListSpec(
    params=(
        *STANDARD,
        Param("event_type", parse_event_type,
              lambda v: (Cond("subscribed_events", "glob", f"*|{v}|*"),)),
        text("url"),
    ),
    sortable=("url", "inserted_at", "updated_at"),
)


def serialize(row: dict[str, Any]) -> dict[str, Any]:
    """Never the sealed secret or headers."""
    return {
        "id": row["id"],
        "url": row["url"],
        "subscribed_events": split_events(row["subscribed_events"]),
        "inserted_at": row["inserted_at"],
        "updated_at": row["updated_at"],
    }


def render(svc: Services, webhook_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("webhooks", webhook_id)
    return serialize(row) if row else None


async def create(request: Request) -> Response:
    cmd = await read_body(request, CreateWebhook)
    svc = services(request)
    webhook_id = await run_in_threadpool(svc.webhooks.create, cmd)
    return ok(request, await run_in_threadpool(render, svc, webhook_id), 201)


async def index(request: Request) -> Response:
    query = parse_list_query(request, SPEC)
    page = await run_in_threadpool(services(request).view.query, "webhooks", query)
    return paginated(request, [serialize(r) for r in page.rows], page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).webhooks.delete, path_uuid(request))
    return no_content()


ROUTES = [
    Route("/api/v1/webhooks", create, methods=["POST"]),
    Route("/api/v1/webhooks", index, methods=["GET"]),
    Route("/api/v1/webhooks/{id}", show, methods=["GET"]),
    Route("/api/v1/webhooks/{id}", delete, methods=["DELETE"]),
]
