"""route(method, path, endpoint, op): a Starlette route that carries its OpenAPI operation.

STYLE.md §7 keeps a route's documentation next to the route: each route module declares the Op
of every route in its own ROUTES, and openapi/document.py reads the Ops from there. A route
without an Op (health, /metrics, the documents themselves) is a plain Route and is left out of
the document; a documented table holding one is an error there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path  # what Router.app itself matches on (pinned 1.10.0)
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from entrypoints.http.crud import Endpoint
from entrypoints.http.openapi.op import Op


class DocumentedRoute(Route):
    """One method on one path, and what the document says about it."""

    def __init__(self, method: str, path: str, endpoint: Endpoint, op: Op) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method, self.op = method, op


def route(method: str, path: str, endpoint: Endpoint, op: Op) -> DocumentedRoute:
    return DocumentedRoute(method, path, endpoint, op)


# How many leading path segments pick a request's candidate routes: /api/v1/nodes, /agent/v1/work.
_KEY_SEGMENTS = 3


def literal_prefix(route: BaseRoute) -> tuple[str, ...]:
    """The whole path segments a route's path begins with, before its first parameter (at most
    _KEY_SEGMENTS). A trailing slash is left out, so that the route stays a candidate for the
    slash-toggled path Starlette redirects to. A route with no path (a Host) gets () and is a
    candidate for every request."""
    path = getattr(route, "path_format", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return ()
    prefix: list[str] = []
    for segment in path[1:].split("/")[:_KEY_SEGMENTS]:
        if "{" in segment:
            break
        prefix.append(segment)
    while prefix and prefix[-1] == "":
        prefix.pop()
    return tuple(prefix)


class PrefixRouter(Router):
    """A Starlette Router that tries only the routes a request's first path segments allow.

    Starlette tries every route in order, one regular expression each: with ~175 routes an agent's
    heartbeat or a health probe (near the end of the table) paid ~150 µs of matching. Here each
    request goes to a plain Router over its candidates, the routes (in the table's order) whose
    literal beginning agrees with the request's path, so what matches, what answers 405 and what
    redirects a trailing slash are Starlette's own decisions over every route that could take
    part in them. Routes appended after start (tests do) rebuild the index on the next request.
    """

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=list(routes), **kwargs)
        self._indexed = -1
        self._by_prefix: dict[tuple[str, ...], Router] = {}

    def candidates(self, path: str) -> list[BaseRoute]:
        return self._router_for(path).routes

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)  # url_for sees every route, not only the candidates
        await self._router_for(get_route_path(scope)).app(scope, receive, send)

    def _router_for(self, path: str) -> Router:
        if self._indexed != len(self.routes):
            self._index()
        segments = tuple(path[1:].split("/", _KEY_SEGMENTS)[:_KEY_SEGMENTS])
        # The longest beginning some route names; a request below no known beginning falls back
        # to the routes that name less (and, at worst, to those naming none).
        for size in range(len(segments), -1, -1):
            router = self._by_prefix.get(segments[:size])
            if router is not None:
                return router
        raise AssertionError("the empty beginning is always indexed")

    def _index(self) -> None:
        prefixes = [literal_prefix(route) for route in self.routes]
        keys = {prefix[:size] for prefix in prefixes for size in range(len(prefix) + 1)}
        # A request whose first segments are `key` (and, when key is shorter than the longest,
        # whose next segment no route names) can match only routes whose whole literal
        # beginning is a beginning of key.
        self._by_prefix = {
            key: Router(
                routes=[route for route, prefix in zip(self.routes, prefixes, strict=True)
                        if key[: len(prefix)] == prefix and len(prefix) <= len(key)],
                redirect_slashes=self.redirect_slashes,
                default=self.default,
            )
            for key in keys
        }
        self._indexed = len(self.routes)
