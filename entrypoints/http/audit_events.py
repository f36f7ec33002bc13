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
    Instant,
    Query,
    answer,
    generated_at,
    instant,
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


ExportLimit = Annotated[int, Meta(ge=1, le=500, description="At most this many (default 100)")]


class AuditExportQuery(Query):
    aggregate_id: Aggregate = None
    event_type: Annotated[EventType | None, _d("Only events of this catalog type")] = None
    from_: Annotated[Instant | None, Meta(description="Only events at or after (UTC, ending in"
                                                      " Z)")] = msgspec.field(default=None,
                                                                              name="from")
    to: Annotated[Instant | None, _d("Only events at or before (UTC, ending in Z)")] = None
    limit: ExportLimit = 100


class AuditGlobalExportQuery(Query):
    from_: Annotated[Instant, Meta(description="Only events at or after (UTC, ending in Z)")
                     ] = msgspec.field(name="from")
    to: Annotated[Instant, _d("Only events at or before (UTC, ending in Z)")]
    aggregate_id: Aggregate = None
    event_type: Annotated[EventType | None, _d("Only events of this catalog type")] = None
    limit: ExportLimit = 100


class ExportFilters(AppaloftShape):
    event_type: str | None
    from_: Annotated[str | None, msgspec.Meta(description="As asked")] = msgspec.field(
        name="from")
    to: str | None
    limit: int


class GlobalExportFilters(ExportFilters):
    aggregate_id: UUID | None


class AuditExportItem(AppaloftShape):
    audit_event_id: UUID
    aggregate_id: UUID
    event_type: str
    created_at: Moment
    payload: Annotated[dict[str, Any], _d("The catalog payload (never a secret)")]
    redacted_fields: list[str]


class AuditExportResponse(AppaloftShape):
    """The events matching, oldest first, at most limit"""

    schema_version: Literal["audit-events.export/v1"]
    aggregate_id: UUID | None
    filters: ExportFilters
    items: list[AuditExportItem]
    item_count: int
    truncated: Annotated[bool, _d("More events match than limit")]
    generated_at: Moment


class AuditGlobalExportResponse(AppaloftShape):
    """The events matching across aggregates, oldest first, at most limit"""

    schema_version: Literal["audit-events.export-global/v1"]
    filters: GlobalExportFilters
    items: list[AuditExportItem]
    item_count: int
    truncated: Annotated[bool, _d("More events match than limit")]
    generated_at: Moment


SHAPES = (AuditEventListResponse, AuditEventShowResponse, AuditExportResponse,
          AuditGlobalExportResponse)


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
    audit = AuditQuery(types=_event_type(query.event_type), low=(query.cursor or 0) + 1,
                       subject_id=query.aggregate_id, page_size=query.limit)
    page = await run(services(request).event_audit.page, audit)
    more = page.total > len(page.messages)
    cursor = str(page.messages[-1].position) if more and page.messages else None
    return answer(AuditEventListResponse(
        schema_version="audit-events.list/v1", items=[_item(m) for m in page.messages],
        next_cursor=cursor, generated_at=generated_at(request)))


def _event_type(name: str | None) -> tuple[str, ...]:
    if name is not None and name not in EVENT_TYPES:
        raise ApiError(400, {"eventType": ["is not a catalog event type"]})
    return (name,) if name else ()


async def _export(request: Request, query: AuditExportQuery | AuditGlobalExportQuery
                  ) -> tuple[list[AuditExportItem], bool]:
    """The matching events, oldest first (at most limit), and whether more match."""
    start, end = instant(query.from_, "from"), instant(query.to, "to")
    if start is not None and end is not None and start > end:
        raise ApiError(400, {"from": ["is after to"]})
    audit = AuditQuery(types=_event_type(query.event_type), occurred_from=start,
                       occurred_to=end, subject_id=query.aggregate_id, page_size=query.limit)
    try:
        page = await run(services(request).event_audit.page, audit)
    except QueryTooBroadError as exc:
        raise ApiError(400, {"aggregateId": [str(exc)]}) from None
    items = [_export_item(m) for m in page.messages]
    return items, page.total > len(items)


def _export_item(message: Message) -> AuditExportItem:
    detail = _detail(message)
    return AuditExportItem(audit_event_id=detail.audit_event_id,
                           aggregate_id=detail.aggregate_id, event_type=detail.event_type,
                           created_at=detail.created_at, payload=detail.payload,
                           redacted_fields=detail.redacted_fields)


async def export(request: Request) -> Response:
    query = read_query(request, AuditExportQuery)
    items, truncated = await _export(request, query)
    return answer(AuditExportResponse(
        schema_version="audit-events.export/v1", aggregate_id=query.aggregate_id,
        filters=ExportFilters(event_type=query.event_type, from_=query.from_, to=query.to,
                              limit=query.limit),
        items=items, item_count=len(items), truncated=truncated,
        generated_at=generated_at(request)))


async def export_global(request: Request) -> Response:
    query = read_query(request, AuditGlobalExportQuery)
    items, truncated = await _export(request, query)
    return answer(AuditGlobalExportResponse(
        schema_version="audit-events.export-global/v1",
        filters=GlobalExportFilters(event_type=query.event_type, from_=query.from_,
                                    to=query.to, limit=query.limit,
                                    aggregate_id=query.aggregate_id),
        items=items, item_count=len(items), truncated=truncated,
        generated_at=generated_at(request)))


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
    route("GET", "/audit-events/export", export, appaloft_op(
        AUDIT, "Export audit events with their payloads", 200, "AuditExport", (400,),
        query=AuditExportQuery,
        description="Oldest first, at most limit (truncated says more match). A time filter"
        " decodes the events it looks at: over too many (name the aggregate or an event type)"
        " it is a 400.")),
    route("GET", "/audit-events/export-global", export_global, appaloft_op(
        AUDIT, "Export audit events across aggregates", 200, "AuditGlobalExport", (400,),
        query=AuditGlobalExportQuery,
        description="As export, from and to required.")),
    route("GET", "/audit-events/{auditEventId}", show, appaloft_op(
        AUDIT, "Show an audit event", 200, "AuditEventShow", (400, 404), query=AuditShowQuery)),
]
