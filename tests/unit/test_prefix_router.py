"""PrefixRouter answers every request as Starlette's Router over the same table would.

The table is the service's own (every route's path and methods, plus its Mount), each endpoint
answering which route took the request; the requests are paths made from the routes' own
templates with their parameters filled by anything (slashes, dots, nothing, percent signs),
trailing slashes added or taken away, and paths of loose segments. Both routers run as ASGI
apps; the status, the Allow and Location headers and the body must be the same.
"""

from __future__ import annotations

import asyncio
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Message, Scope

from entrypoints.http.app import create_http_app
from entrypoints.http.routing import PrefixRouter, literal_prefix
from entrypoints.settings import Settings


async def _which(request: Request) -> Response:
    route = request.scope["route"]
    return PlainTextResponse(f"{route.path} {request.method} {sorted(request.path_params.items())}")


def _copy(route: BaseRoute) -> BaseRoute:
    if isinstance(route, Route):
        return Route(route.path, _which, methods=sorted(route.methods or ()))
    assert isinstance(route, Mount)
    return Mount(route.path, routes=[Route("/{rest:path}", _which)])


TABLE = [_copy(r) for r in create_http_app(Settings()).router.routes]
TEMPLATES = [r.path for r in TABLE if isinstance(r, Route | Mount)]
PARAM = re.compile(r"\{[^}]*\}")
SEGMENTS = sorted({s for t in TEMPLATES for s in t.split("/") if "{" not in s})


def _filled(template: str, fills: list[str]) -> str:
    parts = PARAM.split(template)
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += fills[i % len(fills)] + part
    return out


# A parameter filled with another route's literal segment is where one route shadows another
# (/environments/count/rename is a rename of the environment "count").
fill = st.one_of(st.text(alphabet="ab0-./%_{}", max_size=6), st.sampled_from(SEGMENTS))
from_template = st.builds(
    _filled, st.sampled_from(TEMPLATES), st.lists(fill, min_size=1, max_size=3))
loose = st.lists(st.sampled_from([*SEGMENTS, "", "x", "v1"]), max_size=5).map("/".join)
paths = st.one_of(
    from_template,
    from_template.map(lambda p: p + "/"),
    from_template.map(lambda p: p.rstrip("/")),
    loose,
    loose.map(lambda p: "/" + p),
)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])


def _answer(router: Router, method: str, path: str) -> tuple[int, str | None, str | None, bytes]:
    scope: Scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"test")],
        "scheme": "http", "server": ("test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(router(scope, receive, send))
    headers = dict(sent[0]["headers"])
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return (sent[0]["status"], headers.get(b"allow", b"").decode() or None,
            headers.get(b"location", b"").decode() or None, body)


@settings(max_examples=600, deadline=None)
@given(methods, paths)
@example("POST", "/environments/count/rename")
@example("GET", "/agent/v1/")
def test_a_request_is_answered_as_by_starlettes_router(method: str, path: str) -> None:
    plain, ours = Router(routes=TABLE), PrefixRouter(TABLE)
    assert _answer(ours, method, path) == _answer(plain, method, path)


def test_the_service_table_is_tried_a_few_routes_at_a_time() -> None:
    # Without this the property above would hold for a router that tries everything.
    ours = PrefixRouter(TABLE)
    assert len(ours.candidates("/agent/v1/heartbeat")) == 1
    assert len(ours.candidates("/api/v1/nodes/abc")) < 20
    assert len(ours.candidates("/healthz")) < 5


def test_a_route_appended_after_start_is_found() -> None:
    ours = PrefixRouter(TABLE)
    assert _answer(ours, "GET", "/test-only/late")[0] == 404
    ours.routes.append(Route("/test-only/late", _which))
    assert _answer(ours, "GET", "/test-only/late")[:1] == (200,)


def test_literal_prefix_stops_at_the_first_parameter_and_drops_a_trailing_slash() -> None:
    assert literal_prefix(Route("/api/v1/nodes/{id}", _which)) == ("api", "v1", "nodes")
    assert literal_prefix(Route("/v1/status/{id}", _which)) == ("v1", "status")
    assert literal_prefix(Route("/deployments/{id}/events", _which)) == ("deployments",)
    assert literal_prefix(Route("/files/", _which)) == ("files",)
    assert literal_prefix(Route("/", _which)) == ()
    assert literal_prefix(Route("/a/x{n}/b", _which)) == ("a",)
