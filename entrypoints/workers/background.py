"""Every worker an admin process runs beside its HTTP API, started and stopped in order.

Stopping sets one event and awaits each worker: none is cancelled, since a cancelled task
would leave its pass running in a worker thread while the stores are closed under it (a
segfault on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from entrypoints.bootstrap import Services
from entrypoints.workers.membership import join_at_start, leave_admin_cluster, run_membership
from entrypoints.workers.message_id_fill import run_message_id_fill
from entrypoints.workers.scheduler import run_scheduler
from entrypoints.workers.sweeper import run_sweeper
from entrypoints.workers.webhooks import run_worker


@contextlib.asynccontextmanager
async def background(svc: Services) -> AsyncIterator[None]:
    """Joins the admin cluster and runs the workers (started services) until the block ends,
    then stops them and leaves."""
    settings = svc.settings
    # The join is a write answered once the read model holds it. A read model catching up at
    # start (svc.rebuilding_to) holds it only after the whole backlog: joining before serving
    # would leave /healthz and /readyz unanswered for as long, so the membership loop joins.
    catching_up = bool(svc.rebuilding_to)
    if not catching_up:
        await run_in_threadpool(join_at_start, svc)
    stop = asyncio.Event()
    membership = asyncio.create_task(run_membership(svc, stop, join_first=catching_up))
    sweeper = asyncio.create_task(run_sweeper(svc, settings.heartbeat_interval, stop))
    scheduler = asyncio.create_task(run_scheduler(svc, settings.scheduler_interval, stop))
    # The worker subscribes to the in-process bus before the relay can publish on it.
    worker = asyncio.create_task(run_worker(svc, stop)) if settings.run_webhook_worker else None
    relay = asyncio.create_task(svc.relay.run(stop)) if settings.run_relay else None
    fill = asyncio.create_task(run_message_id_fill(svc, stop))
    try:
        yield
    finally:
        stop.set()
        await sweeper
        await scheduler
        await membership
        await fill
        if relay is not None:
            await relay
        if worker is not None:
            await worker
        await run_in_threadpool(leave_admin_cluster, svc)
