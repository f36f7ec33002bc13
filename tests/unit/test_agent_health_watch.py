"""The agent's health tracker (entrypoints/agent/health_watch.py): unhealthy after `retries`
failed probes in a row, healthy again after one that passes, and a bounded volume: between
changes, at most one heartbeat per heartbeat period."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.agent.health_watch import Tracker


def test_retries_in_a_row_make_it_unhealthy_and_one_pass_heals_it() -> None:
    tracker = Tracker(retries=3, heartbeat=60, now=0)
    assert [tracker.observe(False, t) for t in (1, 2)] == [None, None]
    assert tracker.observe(True, 3) is None  # the count starts again
    assert [tracker.observe(False, t) for t in (4, 5, 6)] == [None, None, "change"]
    states = [tracker.state]
    assert tracker.observe(False, 7) is None
    assert tracker.observe(True, 8) == "change"
    assert [*states, tracker.state] == ["unhealthy", "healthy"]


def test_an_unchanged_state_is_repeated_once_a_heartbeat() -> None:
    tracker = Tracker(retries=1, heartbeat=10, now=0)
    sent = [(t, tracker.observe(True, t)) for t in range(1, 31)]
    assert [t for t, kind in sent if kind] == [10, 20, 30]
    assert {kind for _, kind in sent if kind} == {"heartbeat"}


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 5), st.integers(1, 50))
def test_the_volume_is_bounded_by_changes_and_heartbeats(
        outcomes: list[bool], retries: int, heartbeat: int) -> None:
    tracker = Tracker(retries=retries, heartbeat=heartbeat, now=0)
    kinds = [tracker.observe(passed, t) for t, passed in enumerate(outcomes, start=1)]
    changes = kinds.count("change")
    assert kinds.count("heartbeat") <= len(outcomes) // heartbeat
    # A change needs `retries` failures in a row (to unhealthy) or one pass (back).
    assert changes <= 2 * (outcomes.count(False) // retries) + 1
    failures = 0
    for passed in outcomes:
        failures = 0 if passed else failures + 1
    if outcomes and outcomes[-1]:
        assert tracker.state == "healthy"
    if failures >= retries:
        assert tracker.state == "unhealthy"
