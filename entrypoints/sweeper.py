"""Turns missed heartbeats into status transitions: healthy -> unhealthy -> unreachable."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from domain.node import NodeStatus
from entrypoints.bootstrap import Services
from entrypoints.pause import pause
from projections.query import AnyOf, Cond, ListQuery
from projections.status import ProjectionStuckError

log = logging.getLogger(__name__)
MISSED = "missed heartbeats"


def _stale(services: Services, seconds: float, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    cutoff = services.writes.clock.now() - timedelta(seconds=seconds)
    in_status = AnyOf(tuple(Cond("status", "eq", s) for s in statuses))
    query = ListQuery((Cond("last_seen_at", "lt", cutoff), in_status), page_size=500)
    return services.view.query("nodes", query).rows


def sweep_once(services: Services) -> int:
    """One pass; returns how many transitions it recorded. With several admins only the
    scheduler-lock holder sweeps, so a missed heartbeat is recorded once."""
    lock = services.scheduler_lock
    if lock is not None and not lock.held():
        return 0
    settings = services.settings
    changed = 0
    if services.up_for(settings.node_unreachable_after):
        for row in _stale(services, settings.node_unreachable_after, ("healthy", "unhealthy")):
            changed += services.nodes.set_status(row["id"], NodeStatus.UNREACHABLE, MISSED)
    if services.up_for(settings.node_unhealthy_after):
        for row in _stale(services, settings.node_unhealthy_after, ("healthy",)):
            changed += services.nodes.set_status(row["id"], NodeStatus.UNHEALTHY, MISSED)
    return changed


async def run_sweeper(services: Services, interval: float, stop: asyncio.Event) -> None:
    """Sweeps until `stop` is set. It is never cancelled mid-pass: a cancelled task leaves its
    worker thread running, and closing the stores under that thread crashed the process."""
    while not stop.is_set():
        try:
            while await run_in_threadpool(sweep_once, services) >= 500 and not stop.is_set():
                pass
            services.counters.add("quantum.jobs_executed_total")
        except ProjectionStuckError:
            services.counters.add("quantum.jobs_exceptions_total")  # the projector logs why
        except Exception:
            services.counters.add("quantum.jobs_exceptions_total")
            log.exception("node status sweep failed")
        await pause(stop, interval)
