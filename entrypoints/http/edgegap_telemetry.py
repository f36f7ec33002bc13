"""Container logs (E10) and metrics (E11), from what agents push: nodes may sit behind NAT, so
the admin never reaches into them. The agent sends each running container's log tail and a
resource sample every --telemetry-interval seconds, and the last logs of a crash."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from domain.deployment import Status
from entrypoints.http.edgegap_shapes import (
    ContainerLogsResponse,
    CrashData,
    DeploymentMetricsResponse,
    MetricSeries,
    MetricTotals,
    NetworkSeries,
)
from entrypoints.http.edgegap_views import deployment_of, read_query
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import request_id_of, services
from entrypoints.http.openapi.deployments import LEGACY
from entrypoints.http.openapi.op import Op
from entrypoints.http.responses import JSONResponse
from entrypoints.http.routing import route
from projections.query import Cond, ListQuery, Order

STEP = re.compile(r"^(\d{1,6})([smhd])\Z")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
MAX_POINTS = 10_000
_MOMENT = "Should match %Y-%m-%d %H:%M:%S.%f (UTC), e.g. 2021-07-10 00:00:00.00"


class MetricsQuery(msgspec.Struct):
    """Query string of GET /v1/metrics/deployment/{request_id}."""

    start_time: Annotated[str, Meta(max_length=64, description=(
        f"Starting time for the query. Default to deployment start time. {_MOMENT}"))
    ] | UnsetType = UNSET
    end_time: Annotated[str, Meta(max_length=64, description=(
        f"End time for the metrics. Default to now. Must be greater than start_time. {_MOMENT}"))
    ] | UnsetType = UNSET
    steps: Annotated[str, Meta(max_length=64, description=(
        "Steps between each metrics: a number and s, m, h or d (30s, 1m, 5m, 10m, 1h); one"
        " point per step, its last sample"))] = "1m"
    raw: Annotated[bool, Meta(description=(
        "If set to true, will return the raw data (every sample)."))] = False


def _logs(request: Request) -> ContainerLogsResponse:
    request_id = request_id_of(request)
    row = deployment_of(request, request_id)
    if row.status == Status.TERMINATED.value:
        raise ApiError(404, None, "Logs are not available when your deployment is terminated")
    found = services(request).view.get("deployment_logs", request_id) or {}
    crashed = found.get("crash_logs") is not None
    return ContainerLogsResponse(
        logs=found.get("logs") or "", encoding="utf-8",
        crash_logs=found.get("crash_logs") if crashed else None,
        crash_data=CrashData(exit_code=found.get("exit_code"), message=row.error_detail,
                             restart_count=0) if crashed else None,
        logs_link=None,
    )


async def container_logs(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_logs, request))


def _when(raw: str | UnsetType, name: str, default: datetime) -> datetime:
    if raw is UNSET or raw == "":
        return default
    try:
        return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(422, {name: ["should match %Y-%m-%d %H:%M:%S.%f"]}) from None


def _metrics(request: Request) -> DeploymentMetricsResponse:
    request_id = request_id_of(request)
    row = deployment_of(request, request_id)
    asked = read_query(request, MetricsQuery, 422)
    start = _when(asked.start_time, "start_time", row.start_time)
    end = _when(asked.end_time, "end_time", datetime.now(UTC))
    if end <= start:
        raise ApiError(422, {"end_time": ["must be greater than start_time"]})
    step = STEP.match(asked.steps.replace(" ", ""))
    if step is None or int(step.group(1)) == 0:
        raise ApiError(422, {"steps": ["a duration such as 30s, 1m, 5m, 1h"]})
    seconds = int(step.group(1)) * UNITS[step.group(2)]
    query = ListQuery((Cond("request_id", "eq", request_id), Cond("at", "ge", start),
                       Cond("at", "le", end)), (Order("at"),), page_size=MAX_POINTS)
    samples = services(request).view.query("deployment_samples", query).rows
    return series(samples, start, timedelta(seconds=seconds), asked.raw)


def series(samples: list[dict[str, Any]], start: datetime, step: timedelta,
           raw: bool) -> DeploymentMetricsResponse:
    """Each series as {labels, datasets, timestamps}; one point per step (its last sample)
    unless raw, numbers as strings, as the seed shows them."""
    points: list[dict[str, Any]] = []
    for sample in samples:
        if raw or not points or sample["at"] - points[-1]["bucket"] >= step:
            bucket = sample["at"] if raw else start + step * ((sample["at"] - start) // step)
            points.append({"bucket": bucket, **sample})
        else:
            points[-1].update(sample)
    labels = [p["at"].strftime("%H:%M:%S") for p in points]
    stamps = [p["at"].strftime(TIME_FORMAT)[:-3] for p in points]

    def of(column: str) -> MetricSeries:
        return MetricSeries(labels=labels, datasets=[str(p[column]) for p in points],
                      timestamps=stamps)

    totals = MetricTotals(**{name: of(name) for name in MetricTotals.__struct_fields__})
    return DeploymentMetricsResponse(
        total=totals, cpu=of("cpu_percent"), mem=of("memory_bytes"),
        network=NetworkSeries(receive=totals.receive_total, transmit=totals.transmit_total))


async def deployment_metrics(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_metrics, request))


ROUTES = [
    route("GET", "/v1/deployment/{request_id}/container-logs", container_logs, Op(
        LEGACY, "Container logs", 200, "ContainerLogs", (400, 404), flat=True,
        description="The latest log tail the agent sent (every --telemetry-interval seconds),"
        " and the logs of a crash. 404 once the deployment is terminated.")),
    route("GET", "/v1/metrics/deployment/{request_id}", deployment_metrics, Op(
        LEGACY, "Deployment metrics", 200, "DeploymentMetrics", (400, 404), flat=True,
        query=MetricsQuery,
        description="Totals are cumulative since the container started; cpu is percent of one"
        " core, mem is bytes. A bad time, step or range is a 400 (Edgegap's 422 means only"
        " \"Couldn't Allocate Server\" here).")),
]
