"""Nodes.EnrollmentKey endpoints (including the public default-cluster key)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each, routes
from entrypoints.http.degraded import unless_degraded
from entrypoints.http.inputs import path_cluster_name, read_body, services
from entrypoints.http.listing import (
    STANDARD,
    ListSpec,
    Param,
    exact,
    int_range,
    itext,
    now_filter,
    parse_bool,
    parse_text,
    presence,
    text,
    time_range,
)
from entrypoints.http.responses import ok
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


RESOURCE = Resource(__name__, lambda svc: svc.fleet_reads.enrollment_keys,
                    each(serializers.enrollment_key), spec)


async def _issued(request: Request, key_id: UUID) -> Response:
    return ok(request, await run_in_threadpool(RESOURCE.load, services(request), key_id), 201)


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


index = RESOURCE.index()
show = RESOURCE.show()
update = RESOURCE.update(UpdateEnrollmentKey,
                         lambda svc, key, cmd: svc.enrollment_keys.update(key, cmd))
delete = RESOURCE.delete(lambda svc, key: svc.enrollment_keys.delete(key))

PUBLIC_PATH = "/api/v1/clusters/default/enrollment_keys/public"
ROUTES = [
    Route(PUBLIC_PATH, unless_degraded(create_public), methods=["POST"]),
    Route("/api/v1/clusters/default/enrollment_keys", unless_degraded(create_default),
          methods=["POST"]),
    Route("/api/v1/clusters/{cluster_name}/enrollment_keys", unless_degraded(create),
          methods=["POST"]),
    *routes("/api/v1/enrollment_keys", "/api/v1/enrollment_keys/{id}", index=index, show=show,
            update=unless_degraded(update), delete=unless_degraded(delete)),
]
