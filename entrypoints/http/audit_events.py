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
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from application.event_log import AuditQuery, QueryTooBroadError
from domain.catalog import EVENT_TYPES, Message
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    Query,
    answer,
    generated_at,
    read_query,
    run,
)
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.openapi.appaloft import AUDIT, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import EventType, Moment, described

_d = described
Aggregate = Annotated[UUID | None, _d("Only the events of this aggregate (their subject)")]


class AuditListQuery(Query):
    aggregate_id: Aggregate = None
    event_type: Annotated[EventType | None, _d("Only events of this catalog type")] = None
    limit: Annotated[int, Meta(ge=1, le=100, description="At most this many (default 50)")] = 50
    cursor: Annotated[int, Meta(ge=0, le=2**63 - 1, description="nextCursor of the previous"
                                                                " page")] | None = None


class AuditShowQuery(Query):
    aggregate_id: Aggregate = None


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
    query = read_query(request, AuditListQuery)
    if query.event_type is not None and query.event_type not in EVENT_TYPES:
        raise ApiError(400, {"eventType": ["is not a catalog event type"]})
    types = (query.event_type,) if query.event_type else ()
    audit = AuditQuery(types=types, low=(query.cursor or 0) + 1,
                       subject_id=query.aggregate_id, page_size=query.limit)
    page = await run(services(request).event_audit.page, audit)
    more = page.total > len(page.messages)
    cursor = str(page.messages[-1].position) if more and page.messages else None
    return answer(AuditEventListResponse(
        schema_version="audit-events.list/v1", items=[_item(m) for m in page.messages],
        next_cursor=cursor, generated_at=generated_at(request)))


async def show(request: Request) -> Response:
    event_id = path_uuid(request, "auditEventId")
    subject = read_query(request, AuditShowQuery).aggregate_id
    try:
        message = await run(services(request).event_audit.find, event_id, subject)
    except QueryTooBroadError as exc:
        raise ApiError(400, {"aggregateId": [str(exc)]}) from None
    if message is None:
        raise ApiError(404, None, f"audit event {event_id} not found")
    return answer(AuditEventShowResponse(schema_version="audit-events.show/v1",
                                         event=_detail(message)))


ROUTES = [
    route("GET", "/audit-events", index, appaloft_op(
        AUDIT, "List audit events (from the event store)", 200, "AuditEventList", (400,),
        query=AuditListQuery)),
    route("GET", "/audit-events/{auditEventId}", show, appaloft_op(
        AUDIT, "Show an audit event", 200, "AuditEventShow", (400, 404), query=AuditShowQuery)),
]
