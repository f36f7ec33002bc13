"""GET /api/v1/event_types: the catalog a webhook's subscribed_events is checked against."""

from __future__ import annotations

from typing import Annotated

from starlette.requests import Request
from starlette.responses import Response

from domain.catalog import EVENT_TYPES
from entrypoints.http.errors import ApiError
from entrypoints.http.openapi.op import EVENT_TYPE, Op
from entrypoints.http.responses import ok
from entrypoints.http.routing import route
from entrypoints.http.serializers import EventType, described

# Named responses that are not objects: component name -> type.
NAMED = {"EventTypesResponse": Annotated[list[EventType], described(
    "Full catalog of event types, in catalog order")]}


async def list_event_types(request: Request) -> Response:
    if request.query_params:  # it takes none; every other route refuses what it does not read
        raise ApiError(400, {name: ["is not a supported parameter"]
                             for name in request.query_params})
    return ok(request, list(EVENT_TYPES))


ROUTES = [
    route("GET", "/api/v1/event_types", list_event_types, Op(
        EVENT_TYPE, "List event types", 200, "EventTypes", (400,),
        description="Returns the full catalog of event types, in catalog order. Every value is"
        " valid in a webhook's subscribed_events; see /asyncdoc for each payload.")),
]
