"""Outage: once a wait for a connection has timed out, callers are refused at once while one
of them at a time (the probe) finds out whether the database is back."""

from __future__ import annotations

import threading

import pytest

from adapters.outage import Outage
from projections.status import StoreUnavailableError


def test_refused_at_once_while_one_probes_and_cleared_by_its_answer() -> None:
    outage = Outage(5)
    assert outage.enter() is False  # nothing known: everyone waits as the pool says
    outage.timed_out(probe=False)
    probe = outage.enter()
    assert probe is True
    with pytest.raises(StoreUnavailableError, match="within 5 s"):
        outage.enter()
    outage.timed_out(probe)  # still away: the next caller probes
    second = outage.enter()
    assert second is True
    outage.answered(second)
    assert outage.enter() is False and outage.enter() is False


def test_a_probe_that_ends_otherwise_lets_the_next_caller_probe() -> None:
    outage = Outage(5)
    outage.timed_out(probe=False)
    outage.left(outage.enter())  # cancelled, say
    assert outage.enter() is True


def test_any_answer_clears_it_even_from_a_caller_that_was_not_the_probe() -> None:
    outage = Outage(5)
    probe = outage.enter()  # entered before the timeout: not a probe
    outage.timed_out(probe=False)
    outage.answered(probe)
    assert outage.enter() is False


def test_of_many_threads_entering_while_away_exactly_one_probes() -> None:
    outage = Outage(5)
    outage.timed_out(probe=False)
    start, outcomes = threading.Barrier(16), list[bool | None]()

    def enter() -> None:
        start.wait()
        try:
            outcomes.append(outage.enter())
        except StoreUnavailableError:
            outcomes.append(None)

    threads = [threading.Thread(target=enter) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 1 and outcomes.count(None) == 15
