"""Turning request bodies and path parameters into typed values, or clear 400/422 errors."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

import msgspec
from starlette.requests import Request

from domain.cluster import MAX_NAME
from domain.shared import BAD_DNS_LABEL, DNS_LABEL
from entrypoints.bootstrap import Services
from entrypoints.http.errors import ApiError, validation_details

T = TypeVar("T")


async def read_body(request: Request, type_: type[T]) -> T:
    """Decodes a JSON body; an empty body counts as {} (every field optional then)."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(400, {"body": [f"must be at most {limit} bytes"]})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(400, {"body": [f"must be at most {limit} bytes"]})
        chunks.append(chunk)
    body = b"".join(chunks).strip() or b"{}"
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`, got") and " - at `$." not in str(exc):
            raise ApiError(400, {"body": ["must be a JSON object"]}) from None
        raise ApiError(422, validation_details(exc)) from None
    except msgspec.DecodeError:
        raise ApiError(400, {"body": ["is not valid JSON"]}) from None


def path_uuid(request: Request, name: str = "id") -> UUID:
    raw = request.path_params[name]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, {name: ["is not a valid UUID"]}) from None


def path_cluster_name(request: Request, name: str = "name") -> str:
    raw: str = request.path_params[name]
    if len(raw) > MAX_NAME or not DNS_LABEL.match(raw):
        raise ApiError(400, {name: [BAD_DNS_LABEL]})
    return raw


def services(request: Request) -> Services:
    """The process's wired services, kept in the app state by the lifespan."""
    return request.app.state.services  # type: ignore[no-any-return]
