"""Edgegap locations (E9) and private fleet hosts (E3): where deployments can go."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from entrypoints.bootstrap import Services
from entrypoints.http.edgegap_shapes import (
    Centroid,
    FleetHost,
    FleetHostSpecifications,
    FleetHostsResponse,
    LocationEntry,
    LocationsResponse,
)
from entrypoints.http.edgegap_views import read_query
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import services
from entrypoints.http.openapi.deployments import FLEETS, LEGACY
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import JSONResponse
from entrypoints.http.routing import route
from projections.deployment_tables import HostRecord
from projections.query import Cond

PLACE = ("city", "continent", "country", "timezone", "administrative_division")
Name = Annotated[str, Meta(max_length=128)]


class LocationsQuery(msgspec.Struct):
    """Query string of GET /v1/locations."""

    app: Annotated[Name, Meta(description="The App Name you want to filter with capacity"
                                          " (with version)")] | UnsetType = UNSET
    version: Annotated[Name, Meta(description="The Version Name you want to filter with"
                                              " capacity (with app)")] | UnsetType = UNSET
    type: Annotated[Literal["standard"], Meta(
        description="The type of the location; every location here is standard")
    ] | UnsetType = UNSET
    tags: Annotated[bool, Meta(description="Locations always carry their tags here (none are"
                                           " set)")] | UnsetType = UNSET


def _hosts(svc: Services, *filters: Cond) -> list[HostRecord]:
    return svc.deployment_reads.every_host(*filters)


def _need(svc: Services, app: str | None, version: str | None) -> tuple[int, int] | None:
    if not app or not version:
        return None
    found = svc.deployment_reads.version(app, version)
    if found is None:
        raise ApiError(400, {"version": ["unknown application or version"]})
    return found.cpu_units, found.memory_mb


def locations_body(svc: Services, app: str | None, version: str | None) -> LocationsResponse:
    need = _need(svc, app, version)
    seen: dict[tuple[Any, ...], LocationEntry] = {}
    for host in _hosts(svc):
        loc = json.loads(host.location or "{}")
        if host.status != "healthy" or loc.get("latitude") is None:
            continue
        free = (host.cpu_units - host.allocated_cpu_units,
                host.memory_mb - host.allocated_memory_mb)
        if need is not None and (free[0] < need[0] or free[1] < need[1]):
            continue
        key = tuple(loc.get(k) for k in PLACE)
        seen.setdefault(key, LocationEntry(**{k: loc.get(k) for k in PLACE},
                                           latitude=str(loc["latitude"]),
                                           longitude=str(loc["longitude"]),
                                           type="standard", tags=[]))
    return LocationsResponse(locations=list(seen.values()), messages=[])


async def locations(request: Request) -> Response:
    asked = read_query(request, LocationsQuery)
    app = asked.app if asked.app is not UNSET else None
    version = asked.version if asked.version is not UNSET else None
    body = await run_in_threadpool(locations_body, services(request), app, version)
    return JSONResponse(body)


def base_clock(svc: Services, node_id: Any) -> int | None:
    """What the node's agent last reported of its CPU's base clock (null until it does;
    agents before it was reported never do)."""
    latest = svc.node_metrics.latest(node_id)
    cpu = (latest.host.get("cpu") if latest is not None else None) or {}
    clock = cpu.get("base_clock_mhz")
    return clock if isinstance(clock, int) and not isinstance(clock, bool) else None


def fleet_host(row: HostRecord, fleet_size: int, clock_mhz: int | None) -> FleetHost:
    loc = json.loads(row.location or "{}")
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"
    return FleetHost(
        host_id=str(row.node_id),
        status="ACTIVE" if row.status == "healthy" else "PENDING",
        ip_address=None,
        latitude=loc.get("latitude"), longitude=loc.get("longitude"),
        city=loc.get("city"), country=loc.get("country"),
        continent=loc.get("continent"),
        allocated_cpu_units=row.allocated_cpu_units,
        allocated_memory_mb=row.allocated_memory_mb,
        allocatable_cpu_units=row.cpu_units,
        allocatable_memory_mb=row.memory_mb,
        beacon=None,
        created_at=row.inserted_at.strftime(iso),
        updated_at=row.updated_at.strftime(iso),
        # No centroid orchestration here: each host is its own centre.
        centroid=Centroid(label=row.fleet or "", latitude=loc.get("latitude"),
                          longitude=loc.get("longitude"), radius_km=0,
                          desired_host_count=fleet_size),
        delete_schedule=None,
        fleet_host_specifications=FleetHostSpecifications(
            cpu_units=row.cpu_units, memory_mb=row.memory_mb,
            base_clock_speed_mhz=clock_mhz),
    )


async def fleet_hosts(request: Request) -> Response:
    fleet = str(request.path_params["fleet_name"])
    svc = services(request)

    def load() -> FleetHostsResponse:
        rows = _hosts(svc, Cond("fleet", "eq", fleet))
        return FleetHostsResponse(data=[fleet_host(r, len(rows), base_clock(svc, r.node_id))
                                        for r in rows])

    return JSONResponse(await run_in_threadpool(load))


ROUTES = [
    route("GET", "/v1/locations", locations, Op(
        LEGACY, "List locations", 200, "Locations", (400,), flat=True,
        description="`app` and `version` keep the locations with room for"
        " that version.", query=LocationsQuery)),
    route("GET", "/v2/private-fleets/{fleet_name}/hosts", fleet_hosts, Op(
        FLEETS, "List Private Fleet Hosts", 200, "FleetHosts", (400,), flat=True)),
]
