"""Degraded mode: while the fleet has more nodes than the live admins' total edge capacity, the
writes the seed marks "unavailable during degraded mode" answer 503 service_unavailable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import services

Handler = Callable[[Request], Awaitable[Response]]
DEGRADED = ("unavailable during degraded mode: the fleet has more nodes than the admins' total "
            "edge capacity (see GET /api/v1/admins/my_admin_cluster)")


def unless_degraded(handler: Handler) -> Handler:
    async def gated(request: Request) -> Response:
        # The latest topology is recomputed at every check-in; reading it is cheap.
        if await run_in_threadpool(services(request).admins.degraded):
            raise ApiError(503, None, DEGRADED)
        return await handler(request)

    # The route module's name and the handler's: the OpenAPI operation id is made from both.
    gated.__module__, gated.__name__ = handler.__module__, handler.__name__
    gated.__qualname__, gated.__doc__ = handler.__qualname__, handler.__doc__
    return gated
