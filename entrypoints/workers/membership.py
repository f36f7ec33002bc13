"""This admin's membership duties: check in, forget silent peers (only the scheduler-lock
holder, so two admins never record the same cleanup), recompute topology and shards."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from entrypoints.bootstrap import Services
from entrypoints.workers.loop import every
from projections.status import ProjectionStuckError, ReadModelBehindError, StoreUnavailableError

log = logging.getLogger(__name__)


def membership_once(services: Services) -> None:
    admins = services.admins
    if not admins.joined:  # the join at start failed (the read model could not follow)
        join_admin_cluster(services)
    services.ensure_default_cluster()
    admins.check_in()
    lock = services.scheduler_lock
    held = lock is None or lock.held()
    # Peers could not check in while the database was away either: their silence counts
    # from its return (before, every admin saw the others offline for a pass, so degraded and
    # refusing writes for a moment, and the lock holder forgot them after a long outage).
    back = services.database_back_at()  # after held(): it notices a session opened again
    if held:
        admins.forget_silent(timedelta(seconds=services.settings.admin_forget_after), back)
    if admins.recompute(back).left_out:
        # Forgotten by a peer while it could not check in: it joins again. Before, it went on
        # checking in outside the topology until restarted, its capacity lost (degraded, if
        # the others' could not hold the nodes), and after a database away for longer than
        # ADMIN_FORGET_AFTER_SECONDS the lock holder forgot every other admin for good.
        log.warning("this admin was forgotten by a peer (silent for longer than "
                    "ADMIN_FORGET_AFTER_SECONDS); joining the admin cluster again")
        join_admin_cluster(services)


async def run_membership(services: Services, stop: asyncio.Event,
                         join_first: bool = False) -> None:
    """Checks in every interval until `stop` (`background` joins before, or has this join
    first, and leaves after)."""
    if join_first:
        await asyncio.to_thread(join_at_start, services)
    await every(services.settings.admin_checkin_interval, stop,
                lambda: membership_once(services), services.counters, "admin check-in",
                pause_first=True)


def join_at_start(services: Services) -> None:
    """Joins before serving; a read model that cannot follow, or a database gone since the
    start's check, must not stop the start (the service answers /readyz with why): the
    membership loop joins once it can."""
    try:
        join_admin_cluster(services)
    except TimeoutError:  # its message is only the position waited for
        log.warning("could not join the admin cluster at start: the read model did not take "
                    "the join in time (it is catching up); retrying at the next check-in")
    except (ProjectionStuckError, ReadModelBehindError, StoreUnavailableError) as exc:
        log.warning("could not join the admin cluster at start (%s); retrying", exc)


class AdminIdInUseError(RuntimeError):
    """Another running process acts as this ADMIN_ID: joining (or later leaving) in its name
    would rewrite its URL and mark it disconnected while it serves."""


def claim_admin_id(services: Services) -> None:
    """Holds this process's admin id for as long as it runs (a lock per id and database)."""
    lock = services.admin_lock
    if lock is not None and not lock.held():
        raise AdminIdInUseError(f"ADMIN_ID {services.settings.effective_admin_id} is in use by "
                                "another running admin on this database")


def join_admin_cluster(services: Services) -> None:
    claim_admin_id(services)
    services.admins.join()
    services.counters.add("membership.complete_total")
    services.counters.add("membership.steps_completed_total", 2)  # recorded, checked in
    services.admins.recompute()


def leave_admin_cluster(services: Services) -> None:
    """Best effort: peers see a clean `disconnected` at once; a crash is noticed by silence.
    Nothing is recorded for an id another process has taken over (our lock was lost)."""
    if not services.admins.joined:
        return
    lock = services.admin_lock
    if lock is not None and not lock.held():
        log.warning("not recording leaving the admin cluster: ADMIN_ID %s is held by another "
                    "process", services.settings.effective_admin_id)
        return
    try:
        services.admins.leave()
    except (ProjectionStuckError, ReadModelBehindError) as exc:
        log.warning("could not record leaving the admin cluster: %s", exc)
    except Exception:  # shutting down regardless (the database may be gone)
        log.warning("could not record leaving the admin cluster", exc_info=True)
