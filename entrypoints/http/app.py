"""create_http_app(settings): routes, middleware, error table and the lifespan that owns
services. The workers beside the API come in as `background` (entrypoints/app.py wires them):
this room does not import that one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from domain.shared import DomainError
from entrypoints.bootstrap import Services, build_services
from entrypoints.http import (
    admin_metrics,
    admins,
    agent,
    agent_deployments,
    agent_health,
    agent_runtime_logs,
    agent_work,
    aliases,
    app_hosting,
    appaloft_unsupported,
    apps,
    attempt_events,
    attempt_logs,
    audit_events,
    clusters,
    command_executions,
    commands,
    deliveries,
    deployment_attempts,
    edgegap,
    edgegap_fleet,
    edgegap_tags,
    edgegap_telemetry,
    enrollment_keys,
    environments,
    event_types,
    events,
    health,
    node_metrics,
    nodes,
    projects,
    resource_diagnostics,
    resource_health,
    resources,
    runtime_controls,
    runtime_logs,
    self_update_requests,
    servers,
    ssh,
    variable_imports,
    variables,
    webhooks,
)
from entrypoints.http.admin_metrics import HttpMetrics
from entrypoints.http.edgegap import SELF_STOP_PREFIX
from entrypoints.http.errors import (
    EDGEGAP_PREFIXES,
    ApiError,
    StoreTrouble,
    on_api_error,
    on_domain_error,
    on_http_exception,
    on_projection_stuck,
    on_read_model_behind,
    on_store_unavailable,
    on_timeout,
    on_unexpected,
)
from entrypoints.http.middleware import RequestContext
from entrypoints.http.openapi import asyncdoc, swagger
from entrypoints.http.routing import PrefixRouter
from entrypoints.settings import Settings
from projections.status import STORE_TROUBLE, ProjectionStuckError, ReadModelBehindError

log = logging.getLogger(__name__)


class Stopping:
    """Set when the server begins to stop (its signal handler, possibly outside the loop), so
    long polls answer at once instead of being cut off after the grace period: the agent would
    get a bare 500 and back off."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.event = loop, asyncio.Event()

    def set(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


Background = Callable[[Services], AbstractAsyncContextManager[None]]

# Appaloft's resources sit at the root, as in its seed; Mengi's /deployments/... too.
APPALOFT_PREFIXES = ("/projects", "/environments", "/servers", "/resources", "/deployments",
                     "/audit-events")
# The route modules, in the order Starlette tries their routes: the API (/api/v1 and the seeds'
# root paths), then the agent's (/agent/v1). The OpenAPI document reads the same tuples.
API_MODULES = (
    clusters,
    enrollment_keys,
    nodes,
    aliases,
    commands,
    command_executions,
    self_update_requests,
    ssh,
    admins,
    admin_metrics,
    node_metrics,
    edgegap,
    edgegap_fleet,
    edgegap_tags,
    edgegap_telemetry,
    apps,
    app_hosting,
    # Appaloft (issue 17) at the seed's root paths; Mengi's /deployments/app-hosting first,
    # then the operations not served (403), before any served route could read a literal
    # segment of theirs as an id.
    appaloft_unsupported,
    projects,
    environments,
    variables,
    variable_imports,
    servers,
    resources,
    deployment_attempts,
    runtime_controls,
    runtime_logs,
    attempt_events,
    attempt_logs,
    audit_events,
    resource_health,
    resource_diagnostics,
    webhooks,
    event_types,
    events,
    deliveries,
)
AGENT_MODULES = (agent, agent_work, agent_deployments, agent_health, agent_runtime_logs)
API_ROUTES: list[Route] = [r for module in API_MODULES for r in module.ROUTES]
AGENT_ROUTES: list[Route] = [r for module in AGENT_MODULES for r in module.ROUTES]


def create_http_app(
    settings: Settings, services: Services | None = None, background: Background | None = None
) -> Starlette:
    """Builds the ASGI app; services are built (or the given ones started) in the lifespan,
    which runs `background` (the workers) around serving."""

    http_metrics = HttpMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = services
        if svc is None:
            svc = await run_in_threadpool(build_services, settings)
        await run_in_threadpool(svc.start)
        app.state.stopping = Stopping(asyncio.get_running_loop())
        try:
            async with background(svc) if background else contextlib.nullcontext():
                app.state.services = svc
                http_metrics.services = svc
                yield
        finally:
            aclose = getattr(svc.view, "aclose", None)
            if aclose is not None:  # the read pool of this event loop (adapters/pg_async_reads)
                await aclose()
            await run_in_threadpool(svc.close)

    app = Starlette(
        middleware=[
            Middleware(
                RequestContext,
                api_keys=settings.named_api_keys(),
                protected=("/api/", *EDGEGAP_PREFIXES, *APPALOFT_PREFIXES),
                public=[enrollment_keys.PUBLIC_PATH, SELF_STOP_PREFIX],
                observe=http_metrics.observe,
            )
        ],
        exception_handlers={
            ApiError: on_api_error,
            DomainError: on_domain_error,
            HTTPException: on_http_exception,
            TimeoutError: on_timeout,
            ProjectionStuckError: on_projection_stuck,
            ReadModelBehindError: on_read_model_behind,
            **dict.fromkeys(STORE_TROUBLE, on_store_unavailable),
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    # Starlette makes a plain Router; ours tries only the routes a path's beginning allows.
    app.router = PrefixRouter(
        [
            *API_ROUTES,
            *AGENT_ROUTES,
            *swagger.ROUTES,
            *asyncdoc.ROUTES,
            *health.ROUTES,
            *admin_metrics.SCRAPE_ROUTES,
        ],
        lifespan=lifespan,
    )
    app.state.http_metrics = http_metrics
    app.state.settings = settings
    app.state.store_trouble = StoreTrouble()
    return app
