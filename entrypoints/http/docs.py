"""Serves the OpenAPI document from schemas/ and an offline Swagger UI page for it.

The Swagger UI assets come from the swagger-ui-bundle-v2 wheel (Swagger UI 5, the first major
version that renders OpenAPI 3.1), so the page works on air-gapped hosts: no CDN is referenced.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from entrypoints.http.openapi import SCHEMAS

STATIC_PREFIX = "/swaggerui/static"


async def openapi(request: Request) -> Response:
    return FileResponse(SCHEMAS / "openapi.json", media_type="application/json")


async def swagger_ui(request: Request) -> Response:
    return HTMLResponse((SCHEMAS / "swagger.html").read_text(encoding="utf-8"))


ROUTES = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/swaggerui", swagger_ui, methods=["GET"]),
    Mount(STATIC_PREFIX, app=StaticFiles(directory=str(swagger_ui_path)), name="swaggerui"),
]
