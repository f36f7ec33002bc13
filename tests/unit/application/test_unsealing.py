"""UnsealFailures: one log line per object (not per retry, then at most every LOG_EVERY), every
failure counted, and readiness's summary dropping objects once they are gone."""

from __future__ import annotations

import logging
from functools import partial

import pytest

from application.ports import UnsealError
from application.unsealing import UnsealFailures


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


def test_each_object_is_logged_once_then_periodically(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    failures = UnsealFailures(ticks)
    missing = UnsealError("sealed with key 1a2b3c4d, which is not among this process's keys",
                          "1a2b3c4d")
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            failures.failed("webhook 1", missing)
        failures.failed("webhook 2", missing)
        ticks.now = UnsealFailures.LOG_EVERY + 1
        failures.failed("webhook 1", missing)
    logged = errors(caplog)
    assert len(logged) == 3
    assert logged[0].startswith("webhook 1 cannot be unsealed: sealed with key 1a2b3c4d")
    assert "ENCRYPTION_KEY" in logged[0]
    assert logged[2].endswith("(6 failures so far)")
    assert failures.total == 7


def test_readiness_summary_counts_the_objects_and_drops_those_gone() -> None:
    ticks = Ticks()
    failures = UnsealFailures(ticks)
    assert failures.summary() is None
    present = {"webhook 1": True, "webhook 2": True}
    for what in present:
        failures.failed(what, UnsealError("sealed with key 1a2b3c4d", "1a2b3c4d"),
                        partial(present.__getitem__, what))
    failures.failed("deployment abc", UnsealError("sealed by an earlier release"))
    summary = failures.summary()
    assert summary is not None and summary.startswith("3 sealed values cannot be unsealed: ")
    assert "missing from ENCRYPTION_KEY" in summary
    assert "webhook" not in summary and "1a2b3c4d" not in summary  # /readyz answers anyone
    present["webhook 1"] = False
    assert len(failures.unsealable()) == 3  # rechecked every RECHECK_EVERY seconds only
    ticks.now += UnsealFailures.RECHECK_EVERY
    assert [u.what for u in failures.unsealable()] == ["webhook 2", "deployment abc"]


def test_a_failing_existence_check_keeps_the_object() -> None:
    failures = UnsealFailures(Ticks())

    def database_away() -> bool:
        raise OSError("connection refused")

    failures.failed("webhook 1", UnsealError("x"), database_away)
    assert [u.what for u in failures.unsealable()] == ["webhook 1"]


def test_beyond_the_tracked_objects_failures_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    failures = UnsealFailures(Ticks())
    failures.MAX_TRACKED = 2
    with caplog.at_level(logging.ERROR):
        for n in range(5):
            failures.failed(f"deployment {n}", UnsealError("x"))
    assert failures.total == 5
    assert len(errors(caplog)) == 3 and errors(caplog)[2].startswith("more than 2 objects")
    assert (failures.summary() or "").startswith("2 or more sealed values cannot be unsealed")
