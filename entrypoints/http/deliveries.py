"""GET /api/v1/webhooks/{id}/deliveries: what was sent where, each attempt, and what is owed.

Newest first, house pagination; filters `status` and `event_type`. Never the secret, the
webhook's headers or the signatures. Finished deliveries are kept for
WEBHOOK_DELIVERY_RETENTION_DAYS (application/delivery_retention.py).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from application.deliveries import STATUSES, DeliveryRecord
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.listing import ListSpec, exact, one_of, parse_event_type, parse_list_query
from entrypoints.http.openapi.op import WEBHOOK, Op
from entrypoints.http.responses import paginated
from entrypoints.http.routing import route
from entrypoints.http.serializers import EventType, Moment, Shape, described
from projections.query import Cond, ListQuery, Page

SPEC = ListSpec(
    params=(exact("status", one_of(*STATUSES)), exact("event_type", parse_event_type)),
    sortable=(),
    docs={"status": "Filter by delivery status", "event_type": "Filter by event type"},
)


class DeliveryAttempt(Shape):
    """One HTTP attempt"""

    attempt: int
    at: Moment
    status_code: int | None
    error: str | None
    duration_ms: int | None


class WebhookDeliveryResponse(Shape):
    """One event owed to one webhook, with every attempt so far (no secrets, no signatures)"""

    id: Annotated[UUID, described("Delivery id: the webhook-id header of every attempt")]
    webhook_id: UUID
    event_id: Annotated[UUID, described("The message id (stable per stored event)")]
    event_type: EventType
    position: Annotated[int, described("The event's position in the store's log")]
    status: Annotated[str, described("Delivery state", extra_json_schema={"enum": list(STATUSES)})]
    attempt_count: int
    next_attempt_at: Annotated[Moment | None, described(
        "When a pending delivery is next tried")]
    last_status_code: int | None
    last_error: str | None
    delivered_at: Moment | None
    inserted_at: Moment
    updated_at: Moment
    attempts: Annotated[list[DeliveryAttempt], described("Attempts, oldest first")]


SHAPES = (WebhookDeliveryResponse,)


def serialize(record: DeliveryRecord) -> WebhookDeliveryResponse:
    return WebhookDeliveryResponse(
        id=record.id, webhook_id=record.webhook_id, event_id=record.message_id,
        event_type=record.event_type, position=record.position, status=record.status,
        attempt_count=record.attempts, next_attempt_at=record.next_attempt_at,
        last_status_code=record.last_status_code, last_error=record.last_error,
        delivered_at=record.delivered_at, inserted_at=record.created_at,
        updated_at=record.updated_at,
        attempts=[DeliveryAttempt(attempt=a.attempt, at=a.at, status_code=a.status_code,
                                  error=a.error, duration_ms=a.duration_ms)
                  for a in record.attempt_log],
    )


def _value(query: ListQuery, column: str) -> Any:
    return next((f.value for f in query.filters if isinstance(f, Cond) and f.column == column),
                None)


def load(
    svc: Services, webhook_id: UUID, query: ListQuery
) -> tuple[list[DeliveryRecord], int] | None:
    if svc.deliveries is None or svc.webhook_reads.webhooks.get(webhook_id) is None:
        return None
    return svc.deliveries.page(
        webhook_id, status=_value(query, "status"), event_type=_value(query, "event_type"),
        page=query.page, page_size=query.page_size,
    )


async def index(request: Request) -> Response:
    webhook_id = path_uuid(request)
    query = parse_list_query(request, SPEC)
    found = await run_in_threadpool(load, services(request), webhook_id, query)
    if found is None:
        return not_found(request)
    records, total = found
    return paginated(request, [serialize(r) for r in records], Page([], total), query)


ROUTES = [
    route("GET", "/api/v1/webhooks/{id}/deliveries", index, Op(
        WEBHOOK, "List a webhook's deliveries", 200, "WebhookDelivery", (400, 404),
        listing=SPEC,
        description="Newest first. Each delivery has a fixed webhook-id and body; attempts are"
        " retried on network errors, 408, 429 and 5xx up to WEBHOOK_MAX_ATTEMPTS. Deliveries"
        " delivered or failed for good longer ago than WEBHOOK_DELIVERY_RETENTION_DAYS"
        " (default 7) are deleted with their attempts and no longer listed; pending ones"
        " always are.")),
]
