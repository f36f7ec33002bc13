"""Serves the OpenAPI document from schemas/ and a Swagger UI page for it."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


async def openapi(request: Request) -> Response:
    return FileResponse(SCHEMAS / "openapi.json", media_type="application/json")


async def swagger_ui(request: Request) -> Response:
    return HTMLResponse((SCHEMAS / "swagger.html").read_text())


ROUTES = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/swaggerui", swagger_ui, methods=["GET"]),
]
