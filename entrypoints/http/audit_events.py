"""Appaloft's GET /audit-events and /audit-events/{auditEventId}, read from the event store
itself (application/event_log.py: EventAudit), as GET /api/v1/events is.

An audit event is a public catalog message: its id is the message id subscribers and webhooks
see, its type a catalog type (`edge.resource.created`), and its payload the catalog's, which
never carries a variable's or a secret's value (`redactedFields` names it). The cursor is the
position of the last event of a page; the next page starts after it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.event_log import AuditQuery, QueryTooBroadError
from domain.catalog import EVENT_TYPES, Message
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    answer,
    generated_at,
    id_param,
    limit_param,
    run,
)
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.listing import QueryParam, bounded_int, parse_event_type, parse_params
from entrypoints.http.serializers import Moment, described

_d = described
AGGREGATE = id_param("aggregateId", "aggregate (the event's subject)")
LIST_QUERY = (
    AGGREGATE,
    QueryParam("eventType", parse_event_type, {"type": "string", "enum": list(EVENT_TYPES)},
               "Only events of this catalog type", example=EVENT_TYPES[0]),
    limit_param(100, 50),
    QueryParam("cursor", bounded_int(0, 2**63 - 1), {"type": "string", "pattern": "^[0-9]+$"},
               "nextCursor of the previous page", example="0"),
)
SHOW_QUERY = (AGGREGATE,)
REDACTED = ["value"]  # what variable and secret events never carry


class AuditEventItem(AppaloftShape):
    audit_event_id: Annotated[UUID, _d("The catalog message id (stable forever)")]
    aggregate_id: Annotated[UUID, _d("The event's subject")]
    event_type: Annotated[str, _d("A catalog type, e.g. edge.resource.created")]
    created_at: Moment


class AuditEventListResponse(AppaloftShape):
    """Stored events, oldest first"""

    schema_version: Literal["audit-events.list/v1"]
    items: list[AuditEventItem]
    next_cursor: Annotated[str | None, _d("Pass as cursor for the next page; null at the end")]
    generated_at: Moment


class AuditEventDetail(AuditEventItem):
    position: Annotated[int, _d("Its position in the event log")]
    payload: Annotated[dict[str, Any], _d("The catalog payload (never a secret)")]
    redacted_fields: list[str]


class AuditEventShowResponse(AppaloftShape):
    """One stored event"""

    schema_version: Literal["audit-events.show/v1"]
    event: AuditEventDetail


SHAPES = (AuditEventListResponse, AuditEventShowResponse)


def _item(message: Message) -> AuditEventItem:
    return AuditEventItem(audit_event_id=message.id, aggregate_id=message.subject_id,
                          event_type=message.type, created_at=message.occurred_at)


def _detail(message: Message) -> AuditEventDetail:
    payload = msgspec.to_builtins(message.data)
    return AuditEventDetail(
        audit_event_id=message.id, aggregate_id=message.subject_id, event_type=message.type,
        created_at=message.occurred_at, position=message.position, payload=payload,
        redacted_fields=REDACTED if "key" in payload else [])


async def index(request: Request) -> Response:
    query = parse_params(request, LIST_QUERY)
    limit = query["limit"] or 50
    types = (query["eventType"],) if query["eventType"] else ()
    audit = AuditQuery(types=types, low=(query["cursor"] or 0) + 1,
                       subject_id=query["aggregateId"], page_size=limit)
    page = await run(services(request).event_audit.page, audit)
    more = page.total > len(page.messages)
    cursor = str(page.messages[-1].position) if more and page.messages else None
    return answer(AuditEventListResponse(
        schema_version="audit-events.list/v1", items=[_item(m) for m in page.messages],
        next_cursor=cursor, generated_at=generated_at(request)))


async def show(request: Request) -> Response:
    event_id = path_uuid(request, "auditEventId")
    subject = parse_params(request, SHOW_QUERY)["aggregateId"]
    try:
        message = await run(services(request).event_audit.find, event_id, subject)
    except QueryTooBroadError as exc:
        raise ApiError(400, {"aggregateId": [str(exc)]}) from None
    if message is None:
        raise ApiError(404, None, f"audit event {event_id} not found")
    return answer(AuditEventShowResponse(schema_version="audit-events.show/v1",
                                         event=_detail(message)))


ROUTES = [
    Route("/audit-events", index, methods=["GET"]),
    Route("/audit-events/{auditEventId}", show, methods=["GET"]),
]
