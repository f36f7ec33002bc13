"""GET /api/v1/event_types: the catalog a webhook's subscribed_events is checked against."""

from __future__ import annotations

from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.catalog import EVENT_TYPES
from entrypoints.http.responses import ok
from entrypoints.http.serializers import EventType, described

# Named responses that are not objects: component name -> type.
NAMED = {"EventTypesResponse": Annotated[list[EventType], described(
    "Full catalog of event types, in catalog order")]}


async def list_event_types(request: Request) -> Response:
    return ok(request, list(EVENT_TYPES))


ROUTES = [Route("/api/v1/event_types", list_event_types, methods=["GET"])]
