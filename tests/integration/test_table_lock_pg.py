"""A save that cannot take the events table's lock within POSTGRES_LOCK_TIMEOUT (another session
holds it: a VACUUM FULL, an ALTER TABLE, a manual LOCK) is refused as the database's trouble
after that one wait, not retried ten times (100 s, every write of the process queued behind
it); nothing of it is recorded, and writes go on once the lock is released."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from application.clusters import CreateCluster
from entrypoints.bootstrap import build_services
from projections.status import StoreUnavailableError
from tests.conftest import PG_BASE, make_settings

pytestmark = pytest.mark.integration
LOCK_TIMEOUT = 10  # POSTGRES_LOCK_TIMEOUT (entrypoints/settings.py)


def test_a_save_behind_another_sessions_table_lock_is_refused_after_one_wait(
        pg_url: str) -> None:
    schema = pg_url.rsplit("schema=", 1)[1]
    services = build_services(make_settings(pg_url))
    services.start()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(PG_BASE) as conn:
            conn.execute(f'LOCK TABLE "{schema}".edge_events IN EXCLUSIVE MODE')
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    try:
        services.clusters.create(CreateCluster(name="before"))
        holder.start()
        assert held.wait(10)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="locked by another session"):
            services.clusters.create(CreateCluster(name="behind"))
        assert time.monotonic() - started < LOCK_TIMEOUT + 4  # one wait, not ten
        release.set()
        holder.join(10)
        services.clusters.create(CreateCluster(name="behind"))  # the name was never taken
        names = {r["name"] for r in services.view.select("clusters", {})}
        assert {"before", "behind"} <= names
    finally:
        release.set()
        services.close()
