"""GET /api/v1/webhooks/{id}/deliveries: what was sent where, each attempt, and what is owed.

Newest first, house pagination; filters `status` and `event_type`. Never the secret, the
webhook's headers or the signatures.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.deliveries import STATUSES, DeliveryRecord
from entrypoints.bootstrap import Services
from entrypoints.http.errors import not_found
from entrypoints.http.inputs import path_uuid, services
from entrypoints.http.listing import ListSpec, exact, one_of, parse_event_type, parse_list_query
from entrypoints.http.responses import paginated
from projections.query import Cond, ListQuery, Page

SPEC = ListSpec(
    params=(exact("status", one_of(*STATUSES)), exact("event_type", parse_event_type)),
    sortable=(),
)


def serialize(record: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "webhook_id": record.webhook_id,
        "event_id": record.message_id,
        "event_type": record.event_type,
        "position": record.position,
        "status": record.status,
        "attempt_count": record.attempts,
        "next_attempt_at": record.next_attempt_at,
        "last_status_code": record.last_status_code,
        "last_error": record.last_error,
        "delivered_at": record.delivered_at,
        "inserted_at": record.created_at,
        "updated_at": record.updated_at,
        "attempts": [
            {"attempt": a.attempt, "at": a.at, "status_code": a.status_code, "error": a.error,
             "duration_ms": a.duration_ms}
            for a in record.attempt_log
        ],
    }


def _value(query: ListQuery, column: str) -> Any:
    return next((f.value for f in query.filters if isinstance(f, Cond) and f.column == column),
                None)


def load(
    svc: Services, webhook_id: UUID, query: ListQuery
) -> tuple[list[DeliveryRecord], int] | None:
    if svc.deliveries is None or svc.view.get("webhooks", webhook_id) is None:
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
    Route("/api/v1/webhooks/{id}/deliveries", index, methods=["GET"]),
]
