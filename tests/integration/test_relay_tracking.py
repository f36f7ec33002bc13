"""The relay's position on PostgreSQL: recorded as the library records it (only forwards), without
waiting for the disk flush, and without leaving that setting on the pool's connection."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from adapters.pg_datastore import RelayTrackingRecorder
from entrypoints.bootstrap import build_relay_tracking, build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def test_the_relay_position_moves_forward_only(pg_url: str) -> None:
    settings = make_settings(pg_url)
    services = build_services(settings)
    try:
        pool = services.store.recorder.datastore  # type: ignore[attr-defined]
        tracking = build_relay_tracking(settings, "relay", pool)
        assert isinstance(tracking, RelayTrackingRecorder)
        assert tracking.max_tracking_id("relay:edge") is None
        tracking.insert_tracking(Tracking("relay:edge", 5))
        tracking.insert_tracking(Tracking("relay:edge", 9))
        assert tracking.max_tracking_id("relay:edge") == 9
        for behind in (9, 3):  # the same position again, or an earlier one: refused, kept
            with pytest.raises(IntegrityError):
                tracking.insert_tracking(Tracking("relay:edge", behind))
            assert tracking.max_tracking_id("relay:edge") == 9
        tracking.insert_tracking(Tracking("other", 1))  # one row per name
        assert tracking.max_tracking_id("relay:edge") == 9
        assert tracking.max_tracking_id("other") == 1
        # The pool's connection comes back out of its transaction, with the flush setting it
        # had (SET LOCAL ended with the transaction).
        with pool.get_connection() as conn:
            assert conn.info.transaction_status.name == "IDLE"
            assert conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"] == "on"
    finally:
        services.close()
