"""Background duties that must happen whether or not anyone asks: expiring executions,
ending those whose node is gone or unreachable, pruning finished ones past their retention,
stopping deployments past their max_duration, failing deployments their node never started
(start deadline, node unreachable or deleted), deleting container telemetry past its
retention, and processing self-update requests.

Everything it acts on is read from the read model, so a restarted admin picks up where the
last one stopped. With several admins only the holder of the scheduler lock acts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from application.deployments import BATCH as DEPLOYMENTS_BATCH
from application.executions import BATCH
from entrypoints.bootstrap import Services
from entrypoints.pause import pause
from entrypoints.telemetry_retention import prune_telemetry
from projections.status import ProjectionStuckError

log = logging.getLogger(__name__)
# Self-update chunks per pass: enough to finish large requests quickly, bounded per pass.
UPDATE_CHUNKS_PER_PASS = 50


def _drain(step: Callable[[], int], batch: int = BATCH) -> int:
    total = 0
    while (done := step()) > 0:
        total += done
        if done < batch:
            break
    return total


def schedule_once(services: Services) -> int:
    """One pass of every duty; returns how many executions or chunks it handled."""
    lock = services.scheduler_lock
    if lock is not None and not lock.held():
        return 0
    executions = services.executions
    grace = services.settings.execution_unreachable_grace
    handled = _drain(executions.expire_due)
    services.counters.add("commands.expiration_total")
    handled += _drain(executions.abandon_orphans)
    if services.up_for(grace):
        handled += _drain(lambda: executions.expire_unreachable(grace))
    retention = services.settings.execution_retention_days
    if retention > 0:
        handled += _drain(lambda: executions.prune_finished(retention))
    telemetry_days = services.settings.telemetry_retention_days
    if telemetry_days > 0:
        handled += _drain(lambda: prune_telemetry(services.view, services.writes.clock.now(),
                                                  telemetry_days))
    overdue = services.deployment_finder.overdue(services.writes.clock.now())
    handled += services.deployments.stop_overdue(overdue)
    handled += _unstarted(services)
    for _ in range(UPDATE_CHUNKS_PER_PASS):
        if not services.self_updates.process_next():
            break
        handled += 1
    return handled


def _unstarted(services: Services) -> int:
    deployments = services.deployments
    handled = _drain(deployments.abandon_on_lost_nodes, DEPLOYMENTS_BATCH)
    deadline = services.settings.deployment_start_deadline
    # Only while an admin was up to hear the reports: after an outage, every start is late.
    if services.up_for(deadline):
        handled += _drain(lambda: deployments.expire_unstarted(deadline), DEPLOYMENTS_BATCH)
    return handled


async def run_scheduler(services: Services, interval: float, stop: asyncio.Event) -> None:
    """Runs passes until `stop` is set; like the sweeper, it ends between passes, never inside
    one, so the stores are not closed under a running pass."""
    while not stop.is_set():
        try:
            await run_in_threadpool(schedule_once, services)
            services.counters.add("quantum.jobs_executed_total")
        except ProjectionStuckError:
            services.counters.add("quantum.jobs_exceptions_total")  # the projector logs why
        except Exception:
            services.counters.add("quantum.jobs_exceptions_total")
            log.exception("scheduler pass failed; retrying")
        await pause(stop, interval)
