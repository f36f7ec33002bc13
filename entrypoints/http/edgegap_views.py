"""Edgegap response shapes (entrypoints/http/edgegap_shapes.py) built from the deployments
read model (formats as in the seed), the deployment a path names, and query strings decoded
into the Structs that also document them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from domain.deployment import Status
from entrypoints.bootstrap import Services
from entrypoints.http.edgegap_shapes import (
    DeploymentListItem,
    DeploymentStatusResponse,
    EdgegapLocation,
    EdgegapPagination,
    EdgegapPort,
    EdgegapSession,
    Paginator,
)
from entrypoints.http.errors import ApiError, validation_details
from entrypoints.http.inputs import services
from projections.deployment_tables import DeploymentRecord

Query = TypeVar("Query", bound=msgspec.Struct)


def read_query(request: Request, query: type[Query], status: int = 400) -> Query:
    """The query string as `query` (its fields are the documented parameters; others are
    ignored, as Edgegap does); a value its type refuses is an Edgegap error with `status`."""
    try:
        return msgspec.convert(dict(request.query_params), query, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(status, validation_details(exc)) from None


def edgegap_time(moment: datetime) -> str:
    """'2025-11-29 22:35:31.971359', UTC without an offset, as Edgegap writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def deployment_of(request: Request, request_id: str) -> DeploymentRecord:
    found = services(request).deployment_reads.deployment(request_id)
    if found is None:
        raise ApiError(404, None, f"deployment {request_id} not found")
    return found


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def ports_of(row: DeploymentRecord, spec: dict[str, Any]) -> dict[str, EdgegapPort]:
    """The ports the agent reported, each in the seed's shape (null where it said nothing);
    before its report (READY), the version's ports: external and link are chosen when the
    container starts (the engine publishes each port on a free host port)."""
    reported: dict[str, Any] = json.loads(row.ports or "{}")
    if not reported:
        reported = {p["name"]: {"internal": p["port"], "protocol": p["protocol"],
                                "name": p["name"], "tls_upgrade": p.get("tls_upgrade")}
                    for p in spec.get("ports") or () if isinstance(p, dict) and p.get("name")}
    return {name: EdgegapPort(
        external=_int(port.get("external")), internal=_int(port.get("internal")),
        protocol=_text(port.get("protocol")), name=_text(port.get("name")) or name,
        tls_upgrade=port.get("tls_upgrade") is True, link=_text(port.get("link")),
        proxy=_int(port.get("proxy")),
    ) for name, port in reported.items() if isinstance(port, dict)}


def fqdn_of(svc: Services, request_id: str) -> str | None:
    """`<request_id>.<DEPLOYMENT_DOMAIN>`, as Edgegap names each deployment; null without it."""
    domain = svc.settings.deployment_domain
    return f"{request_id}.{domain}" if domain else None


def location_of(row: DeploymentRecord) -> EdgegapLocation | None:
    place = json.loads(row.location or "{}")
    if not place:
        return None
    return EdgegapLocation(**{k: place.get(k) for k in EdgegapLocation.__struct_fields__})


def status_body(svc: Services, row: DeploymentRecord) -> DeploymentStatusResponse:
    """The status object of GET /v1/status/{request_id} (E4)."""
    spec = json.loads(row.spec)
    start, end = row.start_time, row.removal_time
    elapsed = int(((end or datetime.now(UTC)) - start).total_seconds())
    return DeploymentStatusResponse(
        request_id=row.request_id,
        fqdn=fqdn_of(svc, row.request_id),
        app_name=row.app_name,
        app_version=row.app_version,
        current_status=row.status,
        running=row.status == Status.READY.value,
        whitelisting_active=False,
        start_time=edgegap_time(start),
        removal_time=edgegap_time(end) if end is not None else None,
        elapsed_time=max(elapsed, 0),
        last_status=row.last_status,
        error=row.error,
        error_detail=row.error_detail or "",
        ports=ports_of(row, spec),
        public_ip=row.public_ip or None,
        sessions=list[EdgegapSession](),  # no session-based deployments here
        location=location_of(row),
        tags=[t.name for t in svc.deployment_reads.tags_of(row.id)],
        sockets=None,
        sockets_usage=None,
        command=spec.get("command"),
        arguments=spec.get("arguments"),
        max_duration=row.max_duration,
    )


def list_item(svc: Services, row: DeploymentRecord) -> DeploymentListItem:
    """An element of GET /v1/deployments (E8)."""
    full = status_body(svc, row)
    return DeploymentListItem(
        request_id=full.request_id, fqdn=full.fqdn, start_time=full.start_time,
        ready=full.running, public_ip=full.public_ip, ports=full.ports, tags=full.tags,
        sockets=full.sockets, sockets_usage=full.sockets_usage, is_joinable_by_session=False)


def edgegap_page(number: int, size: int, total: int) -> EdgegapPagination:
    pages = max(1, -(-total // size))
    return EdgegapPagination(
        number=number, next_page_number=number + 1 if number < pages else None,
        previous_page_number=number - 1 if number > 1 else None,
        paginator=Paginator(num_pages=pages), has_next=number < pages,
        has_previous=number > 1)
