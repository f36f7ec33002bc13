"""Serves the OpenAPI document and an offline Swagger UI page for it.

The document is built from the code that serves the API (the copy in schemas/ is that same
document, committed and checked by a test), so an installed package serves it without the
repository's files.

The Swagger UI assets come from the swagger-ui-bundle-v2 wheel (Swagger UI 5, the first major
version that renders OpenAPI 3.1), so the page works on air-gapped hosts: no CDN is referenced.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from entrypoints.http.responses import JSONResponse

STATIC_PREFIX = "/swaggerui/static"
SWAGGER_PAGE = Path(__file__).parent / "swagger.html"


@functools.cache
def document() -> dict[str, Any]:
    # Imported here: the builder reads every route module, this one included.
    from entrypoints.http.openapi.document import build_openapi

    return build_openapi()


async def openapi(request: Request) -> Response:
    return JSONResponse(document())


async def swagger_ui(request: Request) -> Response:
    return HTMLResponse(SWAGGER_PAGE.read_text(encoding="utf-8"))


ROUTES = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/swaggerui", swagger_ui, methods=["GET"]),
    Mount(STATIC_PREFIX, app=StaticFiles(directory=str(swagger_ui_path)), name="swaggerui"),
]
