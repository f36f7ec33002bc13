"""The house envelope: {data, meta} for success, {error, meta} for failures."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from projections.query import ListQuery

_encoder = msgspec.json.Encoder()


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def meta(request: Request) -> dict[str, Any]:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return {"request_id": request_id(request), "timestamp": stamp}


class JSONResponse(Response):
    """JSON encoded by msgspec (UUIDs and RFC 3339 datetimes natively)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def ok(request: Request, data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"data": data, "meta": meta(request)}, status_code=status_code)


def no_content() -> Response:
    return Response(status_code=204)


class Counted(Protocol):
    """A page of rows or records: how many matched in all."""

    @property
    def total(self) -> int: ...


def paginated(request: Request, data: list[Any], page: Counted, query: ListQuery) -> JSONResponse:
    size = query.page_size
    pages = max(1, math.ceil(page.total / size)) if page.total else 0
    has_next = query.page < pages
    has_prev = query.page > 1
    pagination = {
        "has_next": has_next,
        "has_prev": has_prev,
        "next_page": query.page + 1 if has_next else None,
        "page": query.page,
        "page_size": size,
        "prev_page": query.page - 1 if has_prev else None,
        "total_count": page.total,
        "total_pages": pages,
    }
    return JSONResponse({"data": data, "meta": {**meta(request), "pagination": pagination}})


def error_body(request: Request, code: str, message: str, details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}, "meta": meta(request)}
