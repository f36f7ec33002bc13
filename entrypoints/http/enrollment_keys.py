"""Nodes.EnrollmentKey endpoints (including the public default-cluster key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from entrypoints.http import serializers
from entrypoints.http.crud import Resource, each
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
from entrypoints.http.openapi.op import KEY, PUBLIC, Op
from entrypoints.http.openapi.schemas import CLUSTER_FILTER
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from projections.query import AnyOf, Cond

_FLAG = "Filter by whether the key {}: true returns keys {}, false returns {}"
_FILTER_DOCS = {
    "cluster_name": CLUSTER_FILTER,
    "has_expiry": _FLAG.format("has an expiry set", "with expired_at present",
                               "keys with no expiry (unlimited lifetime)"),
    "has_name": _FLAG.format(
        "has a name set", "with a human-readable label",
        "unlabeled keys (e.g. those issued by the public/default-cluster endpoint)"),
    "is_expired": _FLAG.format("is expired", "where expired_at is in the past",
                               "active keys (including those with no expiry)"),
    "is_never_used": _FLAG.format("has never been used", "where last_used_at is null",
                                  "keys that have been used at least once"),
    "is_spent": _FLAG.format("is exhausted", "with uses_remaining == 0",
                             "keys with uses remaining"),
    "is_unlimited": _FLAG.format("has unlimited uses",
                                 "that are unlimited (uses_remaining is null)",
                                 "keys with a finite use count"),
    "key": "Filter by exact key value",
    "name": "Filter by enrollment key name (case-insensitive substring or wildcard:"
    " `prod*`, `*rollout`, etc.)",
    "uses_remaining": "Filter by exact uses_remaining (positive integer; use"
    " is_unlimited=true to find unlimited keys)",
}


def _spent(value: bool) -> tuple[Any, ...]:
    if value:
        return (Cond("uses_remaining", "eq", 0),)
    return (AnyOf((Cond("uses_remaining", "null"), Cond("uses_remaining", "gt", 0))),)


def spec(request: Request) -> ListSpec:
    return spec_at(services(request).writes.clock.now())


def spec_at(now: datetime) -> ListSpec:
    """is_expired compares with `now`; the other parameters do not depend on it."""
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
        docs=_FILTER_DOCS,
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
# The document names the list parameters, which are the same at every instant.
_ANY_INSTANT = spec_at(datetime(2000, 1, 1, tzinfo=UTC))

ROUTES = [
    route("POST", PUBLIC_PATH, unless_degraded(create_public), Op(
        KEY, "Get a public enrollment key for the default cluster", 201, "EnrollmentKey",
        (403, 404, 503), security=PUBLIC,
        description="Public endpoint (no authentication required). Only enabled when both"
        " PUBLIC_ENROLLMENT_KEY_ENABLED=true and DEFAULT_CLUSTER_NAME are configured.")),
    route("POST", "/api/v1/clusters/default/enrollment_keys", unless_degraded(create_default), Op(
        KEY, "Create an enrollment key for the default cluster", 201, "EnrollmentKey",
        (400, 403, 404, 422, 503), IssueEnrollmentKey,
        description="Convenience endpoint for the default cluster (DEFAULT_CLUSTER_NAME).")),
    route("POST", "/api/v1/clusters/{cluster_name}/enrollment_keys", unless_degraded(create), Op(
        KEY, "Create an enrollment key for a cluster", 201, "EnrollmentKey",
        (400, 404, 422, 503), IssueEnrollmentKey,
        description="Set the returned key blob as ENROLLMENT_KEY on the agent. Keys can be"
        " limited by use count (uses_remaining) or by expiry time (expired_at). Omit both for"
        " a single-use key with no expiry.")),
    route("GET", "/api/v1/enrollment_keys", index, Op(
        KEY, "List enrollment keys", 200, "EnrollmentKey", (400,), listing=_ANY_INSTANT)),
    route("GET", "/api/v1/enrollment_keys/{id}", show, Op(
        KEY, "Get an enrollment key", 200, "EnrollmentKey", (400, 404))),
    route("PATCH", "/api/v1/enrollment_keys/{id}", unless_degraded(update), Op(
        KEY, "Update an enrollment key", 200, "EnrollmentKey", (400, 404, 422, 503),
        UpdateEnrollmentKey)),
    route("DELETE", "/api/v1/enrollment_keys/{id}", unless_degraded(delete), Op(
        KEY, "Delete an enrollment key", 204, None, (400, 404, 503))),
]
