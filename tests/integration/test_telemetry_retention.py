"""Container telemetry past its retention is deleted, page by page, on every store; newer rows
and the log tail of a running deployment stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from adapters.deployment_telemetry import ViewDeploymentTelemetry
from adapters.node_reports import ViewNodeReports
from adapters.runtime_log_store import ViewRuntimeLogStore
from application.deployment_telemetry import PAGE, DeploymentTelemetry
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.scheduler import schedule_once
from projections.model import Upsert
from projections.query import ListQuery
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def sample(request_id: str, at: datetime) -> Upsert:
    return Upsert("deployment_samples", {
        "id": uuid.uuid4(), "request_id": request_id, "at": at, "cpu_percent": "1.5",
        "memory_bytes": 1, "receive_total": 0, "transmit_total": 0, "disk_read_total": 0,
        "disk_write_total": 0})


def logs(request_id: str, at: datetime) -> Upsert:
    return Upsert("deployment_logs", {"request_id": request_id, "logs": "hi",
                                      "crash_logs": None, "exit_code": None, "updated_at": at})


def remaining(services: Services, table: str) -> int:
    return services.view.query(table, ListQuery(page_size=1)).total


def test_old_samples_and_stale_logs_go_newer_ones_stay(services: Services) -> None:
    old, fresh = NOW - timedelta(days=8), NOW - timedelta(days=6)
    services.view.apply_untracked(
        [sample("aaaaaaaaaaaa", old + timedelta(seconds=i)) for i in range(PAGE + 5)]
        + [sample("aaaaaaaaaaaa", fresh), sample("bbbbbbbbbbbb", NOW)]
        + [logs("aaaaaaaaaaaa", old), logs("bbbbbbbbbbbb", fresh)])
    telemetry = DeploymentTelemetry(ViewDeploymentTelemetry(services.view), FixedClock(NOW))
    assert telemetry.prune(7) == PAGE + 1  # a page of samples, one log
    assert telemetry.prune(7) == 5
    assert telemetry.prune(7) == 0
    assert remaining(services, "deployment_samples") == 2
    assert services.view.get("deployment_logs", "aaaaaaaaaaaa") is None
    assert services.view.get("deployment_logs", "bbbbbbbbbbbb") is not None


def test_the_scheduler_applies_the_retention_setting() -> None:
    services = build_services(make_settings("memory://", telemetry_retention_days=0.5))
    services.start()
    try:
        now = services.writes.clock.now()
        services.view.apply_untracked([sample("cccccccccccc", now - timedelta(days=1)),
                                       sample("cccccccccccc", now)])
        schedule_once(services)
        assert remaining(services, "deployment_samples") == 1
    finally:
        services.close()


def test_old_runtime_log_lines_and_their_heads_go(services: Services) -> None:
    old, fresh = NOW - timedelta(days=8), NOW - timedelta(days=6)
    store = ViewRuntimeLogStore(services.view)
    line = {"stream": "stdout", "timestamp": old, "message": "hi", "masked": False}
    store.append("dddddddddddd", [line, line], old)
    store.append("eeeeeeeeeeee", [line], old)
    store.append("eeeeeeeeeeee", [{**line, "timestamp": fresh}], fresh)
    telemetry = DeploymentTelemetry(ViewDeploymentTelemetry(services.view), FixedClock(NOW))
    assert telemetry.prune(7) == 4  # three lines, one head
    assert services.view.get("runtime_log_heads", "dddddddddddd") is None
    assert [r["sequence"] for r in store.read("eeeeeeeeeeee", None, 10, None)] == [2]
    assert store.append("eeeeeeeeeeee", [{**line, "timestamp": NOW}], NOW) == 3


def test_a_deployments_log_counts_go_with_the_lines_they_count(services: Services) -> None:
    """The counts Appaloft's logCount reads are kept as lines are stored (progress lines one by
    one, a container's report its lines shown) and aged with them."""
    old, fresh = NOW - timedelta(days=8), NOW - timedelta(days=6)
    reports = ViewNodeReports(services.view)
    for request_id, at in (("aaaaaaaaaaaa", old), ("bbbbbbbbbbbb", fresh)):
        for n in range(3):
            line = {"id": uuid.uuid4(), "request_id": request_id, "at": at, "phase": "health",
                    "level": "info", "message": f"probe {n}"}
            assert reports.progress(line, keep=64)
        reports.container(request_id, "one\ntwo\n", at, crashed=False, exit_code=None,
                          sample=None)
    reports.container("bbbbbbbbbbbb", "boom\n", fresh, crashed=True, exit_code=1, sample=None)
    kept = services.view.get("deployment_log_counts", "bbbbbbbbbbbb")
    assert kept is not None
    assert (kept["progress_lines"], kept["log_lines"], kept["crash_lines"]) == (3, 1, 1)
    telemetry = DeploymentTelemetry(ViewDeploymentTelemetry(services.view), FixedClock(NOW))
    while telemetry.prune(7):
        pass
    assert services.view.get("deployment_log_counts", "aaaaaaaaaaaa") is None
    assert services.view.get("deployment_log_counts", "bbbbbbbbbbbb") == kept
