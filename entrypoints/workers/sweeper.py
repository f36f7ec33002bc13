"""Turns missed heartbeats into status transitions: healthy -> unhealthy -> unreachable."""

from __future__ import annotations

import asyncio

from application.nodes import SWEEP_PAGE
from entrypoints.bootstrap import Services
from entrypoints.workers.loop import every


def sweep_once(services: Services) -> int:
    """One pass; returns how many transitions it recorded. With several admins only the
    scheduler-lock holder sweeps, so a missed heartbeat is recorded once."""
    held, since = services.on_duty()
    if not held:
        return 0
    settings = services.settings
    return services.nodes.sweep_stale(since, settings.node_unhealthy_after,
                                      settings.node_unreachable_after)


async def run_sweeper(services: Services, interval: float, stop: asyncio.Event) -> None:
    """Sweeps until `stop` is set; a full page sweeps again at once."""
    await every(interval, stop, lambda: sweep_once(services), services.counters,
                "node status sweep", again=lambda changed: changed >= SWEEP_PAGE)
