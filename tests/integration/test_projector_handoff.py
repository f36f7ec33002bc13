"""Events saved in this process reach the projector from the writer's hand (no read back);
events other processes save are read from the store; either way the read model is complete."""

from __future__ import annotations

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
