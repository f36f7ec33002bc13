"""route(method, path, endpoint, op): a Starlette route that carries its OpenAPI operation.

STYLE.md §7 keeps a route's documentation next to the route: each route module declares the Op
of every route in its own ROUTES, and openapi/document.py reads the Ops from there. A route
without an Op (health, /metrics, the documents themselves) is a plain Route and is left out of
the document; a documented table holding one is an error there.
"""

from __future__ import annotations

from starlette.routing import Route

from entrypoints.http.crud import Endpoint
from entrypoints.http.openapi.op import Op


class DocumentedRoute(Route):
    """One method on one path, and what the document says about it."""

    def __init__(self, method: str, path: str, endpoint: Endpoint, op: Op) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method, self.op = method, op


def route(method: str, path: str, endpoint: Endpoint, op: Op) -> DocumentedRoute:
    return DocumentedRoute(method, path, endpoint, op)
