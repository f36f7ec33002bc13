"""create_app(settings): an admin process's ASGI app, the HTTP API with its workers beside it.

The two rooms meet here only: entrypoints/http/ serves, entrypoints/workers/ runs in the
background, and neither imports the other.
"""

from __future__ import annotations

from starlette.applications import Starlette

from entrypoints.bootstrap import Services
from entrypoints.http.app import create_http_app
from entrypoints.settings import Settings
from entrypoints.workers.background import background


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The API and, in its lifespan, the workers; services are built (or the given ones
    started) there too."""
    return create_http_app(settings, services, background)
