"""Background duties that must happen whether or not anyone asks: expiring executions,
ending those whose node is gone or unreachable, pruning finished ones past their retention,
stopping deployments past their max_duration, failing deployments their node never started
(start deadline, node unreachable or deleted), deleting container telemetry and finished
webhook deliveries past their retention, and processing self-update requests.

Everything it acts on is read from the read model, so a restarted admin picks up where the
last one stopped. With several admins only the holder of the scheduler lock acts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from application.delivery_retention import BATCH as DELIVERIES_BATCH
from application.delivery_retention import DeliveryRetention
from application.deployments import BATCH as DEPLOYMENTS_BATCH
from application.executions import BATCH
from entrypoints.bootstrap import Services
from entrypoints.workers.loop import every

# Self-update chunks per pass: enough to finish large requests quickly, bounded per pass.
UPDATE_CHUNKS_PER_PASS = 50
# What a pass may spend deleting old webhook deliveries, a batch at a time (at least one):
# batch after batch, retention cut the deliveries settled beside it to 0.48 on PostgreSQL and
# to 0.05 on SQLite; so bounded, to 0.87 and 0.74 while a backlog lasts, and to 0.98 and 0.86
# once it deletes what a week ago sent (bench.delivery_retention). A backlog (the first passes
# after an upgrade, a retention shortened) goes at 7,500-16,000 deliveries a second on
# PostgreSQL and 4,000 on SQLite (a fifth of what each deletes flat out; a worker sends
# 1,200-1,400 a second end to end, bench.webhooks).
DELIVERY_RETENTION_SECONDS = 0.2


def _drain(step: Callable[[], int], batch: int = BATCH) -> int:
    total = 0
    while (done := step()) > 0:
        total += done
        if done < batch:
            break
    return total


def schedule_once(services: Services) -> int:
    """One pass of every duty; returns how many executions or chunks it handled."""
    held, since = services.on_duty()
    if not held:
        return 0
    executions = services.executions
    grace = services.settings.execution_unreachable_grace
    handled = _drain(executions.expire_due)
    services.counters.add("commands.expiration_total")
    handled += _drain(executions.abandon_orphans)
    handled += _drain(lambda: executions.expire_unreachable(grace, since))
    retention = services.settings.execution_retention_days
    if retention > 0:
        handled += _drain(lambda: executions.prune_finished(retention))
    telemetry_days = services.settings.telemetry_retention_days
    if telemetry_days > 0:
        handled += _drain(lambda: services.deployment_telemetry.prune(telemetry_days))
        handled += _drain(lambda: services.resource_health.prune(telemetry_days))
    handled += services.deployments.stop_all_overdue()
    handled += _unstarted(services, since)
    handled += services.runtime_controls.expire_overdue(
        services.settings.deployment_start_deadline, since)
    for _ in range(UPDATE_CHUNKS_PER_PASS):
        if not services.self_updates.process_next():
            break
        handled += 1
    # Last: of a backlog of old deliveries it takes up to a fifth of a second, after the others.
    return handled + _old_deliveries(services)


def _old_deliveries(services: Services) -> int:
    days = services.settings.webhook_delivery_retention_days
    return prune_deliveries(services.delivery_retention, days) if days > 0 else 0


def prune_deliveries(retention: DeliveryRetention, days: float) -> int:
    """Batches of deliveries finished more than `days` ago, until none is left or the pass's
    DELIVERY_RETENTION_SECONDS are spent; how many deliveries went."""
    handled, started = 0, time.monotonic()
    while True:
        done = retention.prune(days)
        handled += done
        if done < DELIVERIES_BATCH or time.monotonic() - started >= DELIVERY_RETENTION_SECONDS:
            return handled


def _unstarted(services: Services, since: datetime | None) -> int:
    deployments = services.deployments
    handled = _drain(deployments.abandon_on_lost_nodes, DEPLOYMENTS_BATCH)
    deadline = services.settings.deployment_start_deadline
    handled += _drain(lambda: deployments.expire_unstarted(deadline, since),
                      DEPLOYMENTS_BATCH)
    return handled


async def run_scheduler(services: Services, interval: float, stop: asyncio.Event) -> None:
    """Runs passes until `stop` is set, ending between passes (see `every`)."""
    await every(interval, stop, lambda: schedule_once(services), services.counters,
                "scheduler pass")
