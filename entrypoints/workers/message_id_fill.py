"""Fills in the message ids of the events saved before their index existed, in the background.

The first start of this release filled them in before serving: about two minutes for ten
million events with /healthz unanswered, long enough for a liveness probe to kill the start,
over and over. Here the process serves at once and fills a chunk per transaction
(adapters/event_message_ids.MessageIdFill); a stop, even kill -9, loses nothing, and the next
start goes on from there. Several processes on one database: the holder of the fill lock fills,
the others look again now and then (it may die) until it is done. Lookups meanwhile hash the
positions not filled yet (application/event_log.EventAudit.find).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

from application.troubles import Trouble
from application.wakeup import pause
from entrypoints.bootstrap import Services
from projections.status import is_store_trouble

log = logging.getLogger(__name__)


def fill_once(services: Services) -> int | None:
    """One chunk, if this process is the one filling; how many positions are left to fill
    (0: done), or None while another process fills them."""
    fill = services.message_id_fill
    if fill is None:
        return 0
    through, until = fill.progress()
    if through >= until:
        return 0
    lock = services.fill_lock
    if lock is not None and not lock.held():
        return None
    left = fill.step()
    if left == 0 and lock is not None:
        lock.release()
    return left


async def run_message_id_fill(services: Services, stop: asyncio.Event) -> None:
    """Fills until done or `stop` (between chunks: the one under way is committed)."""
    fill = services.message_id_fill
    if fill is None:
        return
    # Even the first look at the progress is in the loop's try: a database failing at that
    # moment ended the task for good (no filling until the next start).
    settings = services.settings
    trouble = Trouble(log, "filling in message ids")
    started = None
    while not stop.is_set():
        try:
            left = await run_in_threadpool(fill_once, services)
            trouble.over()
        except Exception as exc:  # noqa: BLE001 - said once, tried again after a pause
            trouble.failed(exc, traceback=not is_store_trouble(exc))
            left = None
        if left and started is None:
            started = time.monotonic()
            log.info("filling in the message ids of older events in the background (%d "
                     "positions left)", left)
        if left == 0:
            if started is not None:
                seconds = time.monotonic() - started
                log.info("filled in the message ids of events up to %d (%d positions here, "
                         "%.0f events/s)", fill.progress()[1], fill.positions,
                         fill.positions / seconds)
            return
        await pause(stop, settings.message_id_fill_pause if left is not None
                    else settings.scheduler_interval)
