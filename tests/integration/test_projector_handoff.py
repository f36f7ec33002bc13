"""Events saved in this process reach the projector from the writer's hand (no read back);
events other processes save are read from the store; either way the read model is complete."""

from __future__ import annotations

import time

import pytest

from application.clusters import CreateCluster
from entrypoints.bootstrap import build_services
from tests.conftest import make_settings
from tests.integration.webhook_harness import write_registrations

pytestmark = pytest.mark.integration


def test_handed_over_and_read_back_events_make_one_complete_read_model(any_url: str) -> None:
    services = build_services(make_settings(any_url))
    services.start()
    try:
        for round_ in range(6):
            services.clusters.create(CreateCluster(name=f"hand-{round_}"))  # this process
            write_registrations(services, 4, batch=2)  # as another process would
        services.projector.wait(services.store.recorder.max_notification_id() or 0)
        clusters = {r["name"] for r in services.view.select("clusters", {})}
        assert {f"hand-{i}" for i in range(6)} <= clusters
        nodes = services.view.select("nodes", {}, limit=100)
        assert len(nodes) == 24 and all(n["status"] == "unhealthy" for n in nodes)
        assert services.projector.handed_over >= 1, "in-process writes must not be read back"
        assert services.projector.processed == services.store.recorder.max_notification_id()
    finally:
        services.close()


def test_own_commits_do_not_send_the_projector_to_the_log(pg_url: str) -> None:
    """The NOTIFY of a commit this process made wakes the relay, not the projector: the write
    path handed the projector those events already (or applied them in the transaction), so
    reading the log for them found nothing, one wasted query a write. Another process's
    commit still wakes it at once."""
    services = build_services(make_settings(pg_url))
    other = build_services(make_settings(pg_url, run_projections=False))
    services.start()
    try:
        services.clusters.create(CreateCluster(name="own-warm"))
        before, started = services.projector.log_reads, time.monotonic()
        for n in range(30):
            services.clusters.create(CreateCluster(name=f"own-{n}"))
        polls = (time.monotonic() - started) / services.projector.poll_interval
        assert services.projector.log_reads - before <= polls + 3

        before = services.projector.log_reads
        other.clusters.create(CreateCluster(name="foreign"))
        services.projector.wait(other.store.recorder.max_notification_id() or 0, timeout=10)
        assert services.view.select("clusters", {"name": "foreign"})
        assert services.projector.log_reads > before
    finally:
        other.close()
        services.close()
