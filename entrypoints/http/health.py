"""/healthz: the process answers (liveness). /readyz: it can do its job now, meaning the event
store and read model answer, the read model can apply every event recorded (otherwise writes are
refused), when NATS is configured the relay is connected to it and its last batch was
acknowledged, and every sealed value it needed opened; it answers within READY_WITHIN seconds
even when the database does not. Both sit outside the API document (probes, no key) but answer
typed shapes like it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Annotated, Literal

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.troubles import Trouble
from entrypoints.bootstrap import Services
from entrypoints.http.inputs import services
from entrypoints.http.responses import JSONResponse
from entrypoints.http.serializers import Shape, described
from projections.status import StoreUnavailableError

log = logging.getLogger(__name__)
READY_WITHIN = 2.0  # seconds: a probe that waited longer would mostly have given up already
Check = Annotated[str, described("`ok...` when fine, `error: <why>` when not ready")]


class HealthResponse(Shape):
    """The process answers"""

    status: Literal["ok"]


class ReadinessChecks(Shape):
    """One line per dependency"""

    database: Check
    broker: Check
    projections: Check
    secrets: Check


class ReadinessResponse(Shape):
    """Whether this process can do its job now (503 when not)"""

    status: Literal["ready", "not_ready"]
    checks: ReadinessChecks


async def healthz(request: Request) -> Response:
    return JSONResponse(HealthResponse(status="ok"))


# Probes ask every few seconds: an outage is logged once, and its end.
_DATABASE_CHECK = Trouble(log, "readiness: the database check")


def _database(svc: Services) -> str:
    try:
        svc.store.recorder.max_notification_id()
        svc.fleet_reads.clusters.first()  # the read model answers
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is shown
        _DATABASE_CHECK.failed(exc)
        # Our own words only: a driver's message names hosts and databases to anyone asking.
        return f"error: {exc if isinstance(exc, StoreUnavailableError) else type(exc).__name__}"
    _DATABASE_CHECK.over()
    return "ok"


def _broker(svc: Services) -> str:
    if not svc.settings.nats_url:
        return "ok (in-process bus)"
    if not svc.settings.run_relay:
        return "not used by this process (RUN_RELAY=false)"
    failure = svc.relay.publish_failure  # its last batch was refused or never acknowledged
    if failure is not None:  # (and it drops the connection: this says why)
        return f"error: the relay cannot publish ({failure}); retrying"
    return "ok" if svc.relay.publisher.connected else "error: not connected to NATS"


def _projections(svc: Services) -> str:
    """An event the read model cannot apply: writes are refused until a fixed release runs."""
    try:
        failure = svc.projector.current_failure()
    except Exception as exc:  # noqa: BLE001 - the database check reports the cause
        return f"error: cannot read the projection state ({type(exc).__name__})"
    if failure is None:
        if svc.projector.store_away is not None:  # its words stay in the log (hosts, names)
            short_of = svc.projector.store_short_of
            return "error: the projector waits for the database" + (
                f" ({short_of})" if short_of else "")
        return _rebuild(svc)
    return (f"error: projection {failure.projection} stuck at {failure.describe()}"
            f" (since {failure.since_iso()}, {failure.attempts} attempts)")


def _rebuild(svc: Services) -> str:
    """A read model that held less than the log at start (an upgrade's rebuild, or one a crash
    interrupted) is not ready until it holds what the log held then."""
    target = svc.rebuilding_to
    if not target:
        return "ok"
    position = svc.projector.applied()
    if position >= target:
        svc.rebuilding_to = 0
        return "ok"
    doing = ("rebuilding the read models after an upgrade" if svc.upgraded
             else "the read models are catching up with the event log")
    return f"error: {doing} ({position} of {target} events)"


def _secrets(svc: Services) -> str:
    """Sealed values this process needed and could not open (application/unsealing.py)."""
    problem = svc.unsealing.summary()
    return "ok" if problem is None else f"error: {problem}"


async def _within(check: Callable[[Services], str], svc: Services) -> str:
    """A check's line, or an error line once it has taken READY_WITHIN: a database that is away
    makes a connection wait for the pool's timeout, longer than a probe waits for an answer."""
    try:
        return await asyncio.wait_for(run_in_threadpool(check, svc), READY_WITHIN)
    except TimeoutError:
        return f"error: no answer from the database within {READY_WITHIN:g} s"


async def readyz(request: Request) -> Response:
    svc = services(request)
    database, projections, secrets = await asyncio.gather(
        _within(_database, svc), _within(_projections, svc), _within(_secrets, svc))
    short_of = request.app.state.store_trouble.recent()
    if short_of is not None and database == "ok":  # it reads, yet writes fail
        database = f"error: requests fail: {short_of}"
    checks = ReadinessChecks(database=database, broker=_broker(svc), projections=projections,
                             secrets=secrets)
    ready = not any(v.startswith("error") for v in msgspec.structs.astuple(checks))
    body = ReadinessResponse(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body, status_code=200 if ready else 503)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
