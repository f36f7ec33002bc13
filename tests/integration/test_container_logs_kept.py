"""A crash's logs stay once reported: the agent's next routine telemetry (sent by its
telemetry loop while the crash was being reported) updates the log tail and keeps them, on
every store. The in-memory view once replaced the whole row on an upsert where SQL keeps the
columns it does not name, so a failed deployment's own output vanished from /logs there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.node_reports import ViewNodeReports
from entrypoints.bootstrap import Services

pytestmark = pytest.mark.integration
AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_routine_telemetry_after_a_crash_keeps_its_logs(services: Services) -> None:
    reports = ViewNodeReports(services.view)
    reports.container("0123456789ab", "serving on 8080\n", AT, crashed=True, exit_code=None,
                      sample=None)
    reports.container("0123456789ab", "serving on 8080\nlater\n", AT, crashed=False,
                      exit_code=None, sample=None)
    row = services.view.get("deployment_logs", "0123456789ab")
    assert row is not None
    assert (row["crash_logs"], row["logs"]) == ("serving on 8080\n", "serving on 8080\nlater\n")


def test_a_new_row_has_every_column(services: Services) -> None:
    ViewNodeReports(services.view).container("0123456789ac", "hi\n", AT, crashed=False,
                                             exit_code=None, sample=None)
    row = services.view.get("deployment_logs", "0123456789ac")
    assert row is not None and row["crash_logs"] is None and row["exit_code"] is None
