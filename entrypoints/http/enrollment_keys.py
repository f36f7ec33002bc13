"""Nodes.EnrollmentKey endpoints (including the public default-cluster key)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from entrypoints.bootstrap import Services
from entrypoints.http import serializers
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_cluster_name, path_uuid, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    Param,
    exact,
    int_range,
    itext,
    now_filter,
    parse_bool,
    parse_list_query,
    parse_text,
    presence,
    text,
    time_range,
)
from entrypoints.http.responses import no_content, ok, paginated
from projections.query import AnyOf, Cond


def _spent(value: bool) -> tuple[Any, ...]:
    if value:
        return (Cond("uses_remaining", "eq", 0),)
    return (AnyOf((Cond("uses_remaining", "null"), Cond("uses_remaining", "gt", 0))),)


def spec(request: Request) -> ListSpec:
    now = services(request).writes.clock.now()
    return ListSpec(
        params=(
            *STANDARD,
            text("cluster_name"),
            *time_range("expired_at"),
            presence("has_expiry", "expired_at"),
            presence("has_name", "name"),
            Param("is_expired", parse_bool, lambda v: (now_filter("expired_at", v, now),)),
            Param("is_never_used", parse_bool,
                  lambda v: (Cond("last_used_at", "null" if v else "notnull"),)),
            Param("is_spent", parse_bool, _spent),
            Param("is_unlimited", parse_bool,
                  lambda v: (Cond("uses_remaining", "null" if v else "notnull"),)),
            exact("key", parse_text),
            *time_range("last_used_at"),
            itext("name"),
            *int_range("uses_remaining", with_exact=True),
        ),
        sortable=("cluster_name", "name", "uses_remaining", "expired_at", "last_used_at",
                  "inserted_at", "updated_at"),
    )


def render(svc: Services, key_id: UUID) -> dict[str, Any] | None:
    row = svc.view.get("enrollment_keys", key_id)
    return serializers.enrollment_key(row) if row else None


async def _issued(request: Request, key_id: UUID) -> Response:
    return ok(request, await run_in_threadpool(render, services(request), key_id), 201)


async def create_public(request: Request) -> Response:
    key_id = await run_in_threadpool(services(request).enrollment_keys.issue_public)
    return await _issued(request, key_id)


async def create_default(request: Request) -> Response:
    cmd = await read_body(request, IssueEnrollmentKey)
    key_id = await run_in_threadpool(services(request).enrollment_keys.issue_for_default, cmd)
    return await _issued(request, key_id)


async def create(request: Request) -> Response:
    name = path_cluster_name(request, "cluster_name")
    cmd = await read_body(request, IssueEnrollmentKey)
    key_id = await run_in_threadpool(services(request).enrollment_keys.issue, name, cmd)
    return await _issued(request, key_id)


async def index(request: Request) -> Response:
    query = parse_list_query(request, spec(request))
    page = await run_in_threadpool(services(request).view.query, "enrollment_keys", query)
    return paginated(request, [serializers.enrollment_key(r) for r in page.rows], page, query)


async def show(request: Request) -> Response:
    found = await run_in_threadpool(render, services(request), path_uuid(request))
    return ok(request, found) if found else not_found(request)


async def update(request: Request) -> Response:
    key_id = path_uuid(request)
    cmd = await read_body(request, UpdateEnrollmentKey)
    svc = services(request)
    await run_in_threadpool(svc.enrollment_keys.update, key_id, cmd)
    return ok(request, await run_in_threadpool(render, svc, key_id))


async def delete(request: Request) -> Response:
    await run_in_threadpool(services(request).enrollment_keys.delete, path_uuid(request))
    return no_content()


PUBLIC_PATH = "/api/v1/clusters/default/enrollment_keys/public"
ROUTES = [
    Route(PUBLIC_PATH, unless_degraded(create_public), methods=["POST"]),
    Route("/api/v1/clusters/default/enrollment_keys", unless_degraded(create_default),
          methods=["POST"]),
    Route("/api/v1/clusters/{cluster_name}/enrollment_keys", unless_degraded(create),
          methods=["POST"]),
    Route("/api/v1/enrollment_keys", index, methods=["GET"]),
    Route("/api/v1/enrollment_keys/{id}", show, methods=["GET"]),
    Route("/api/v1/enrollment_keys/{id}", unless_degraded(update), methods=["PATCH"]),
    Route("/api/v1/enrollment_keys/{id}", unless_degraded(delete), methods=["DELETE"]),
]
