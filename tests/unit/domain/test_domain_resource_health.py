"""The derivation of a resource's health (domain/resource_health.py), rule by rule, and over
every combination of facts: total, and `overall` always agrees with the runtime it reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.resource_health import STALE_HEARTBEATS, Facts, Observed, derive, overall_of

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
READY_AT = NOW - timedelta(minutes=5)


def facts(status: str | None = "Status.READY", *, checked: bool = True, stopping: bool = False,
          observed: Observed | None = None, runtime: str = "running") -> Facts:
    return Facts(deployment_status=status, ready_at=READY_AT, checked=checked,
                 stopping=stopping, observed=observed, heartbeat_seconds=60,
                 runtime_state=runtime)


def seen(health: str, lifecycle: str = "running", ago: float = 1, message: str = ""
         ) -> Observed:
    return Observed(NOW - timedelta(seconds=ago), lifecycle, health, message)


@pytest.mark.parametrize(("given_facts", "expected"), [
    (None, ("not-deployed", "not-deployed", "unknown", "no-healthy-deployment")),
    (facts(None), ("not-deployed", "not-deployed", "unknown", "no-healthy-deployment")),
    (facts(), ("healthy", "running", "healthy", "ready-report")),
    (facts(observed=seen("healthy")), ("healthy", "running", "healthy", "health-check-passed")),
    (facts(observed=seen("unhealthy")),
     ("unhealthy", "running", "unhealthy", "health-check-failed")),
    (facts(observed=seen("unknown")), ("unknown", "running", "unknown", "health-unknown")),
    (facts(observed=seen("unhealthy", ago=STALE_HEARTBEATS * 60 + 1)),
     ("unknown", "running", "unknown", "health-report-stale")),
    (facts(observed=seen("healthy", ago=STALE_HEARTBEATS * 60)),
     ("healthy", "running", "healthy", "health-check-passed")),
    (facts(checked=False), ("unknown", "running", "unknown", "health-policy-disabled")),
    (facts(observed=seen("unhealthy", "exited")),
     ("unhealthy", "exited", "unhealthy", "runtime-exited")),
    (facts(observed=seen("unknown", "missing")),
     ("unhealthy", "exited", "unhealthy", "runtime-exited")),
    (facts(observed=seen("unknown", "stopped")),
     ("stopped", "stopped", "unknown", "runtime-stopped")),
    (facts("Status.ERROR"), ("unhealthy", "exited", "unhealthy", "runtime-exited")),
    (facts("Status.ERROR", stopping=True), ("stopped", "stopped", "unknown", "runtime-stopped")),
    (facts("Status.TERMINATED"), ("stopped", "stopped", "unknown", "runtime-stopped")),
    # A runtime control's stop: the agent's failing probes of the stopped container said
    # unhealthy, then unknown (stale), never stopped.
    (facts(observed=seen("unhealthy"), runtime="stopped"),
     ("stopped", "stopped", "unknown", "runtime-stopped")),
    (facts(observed=seen("healthy"), runtime="stopping"),
     ("stopped", "stopped", "unknown", "runtime-stopped")),
    (facts(observed=seen("healthy"), runtime="starting"),
     ("healthy", "running", "healthy", "health-check-passed")),
])
def test_each_rule(given_facts: Facts | None, expected: tuple[str, str, str, str]) -> None:
    found = derive(given_facts, NOW)
    assert (found.overall, found.lifecycle, found.health, found.reason_code) == expected
    assert found.message


def test_the_time_and_message_come_from_what_was_last_said() -> None:
    assert derive(facts(), NOW).observed_at == READY_AT
    failing = derive(facts(observed=seen("unhealthy", message="GET / answered 500")), NOW)
    assert (failing.observed_at, failing.message) == (NOW - timedelta(seconds=1),
                                                      "GET / answered 500")
    exited = derive(facts("Status.ERROR", observed=seen("unhealthy", "exited", message="137")),
                    NOW)
    assert exited.message == "137"


LIFECYCLES = st.sampled_from(["running", "exited", "stopped", "missing"])
HEALTHS = st.sampled_from(["healthy", "unhealthy", "unknown"])
OBSERVED = st.none() | st.builds(
    Observed, at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1),
                              timezones=st.just(UTC)),
    lifecycle=LIFECYCLES, health=HEALTHS, message=st.text(max_size=5))
FACTS = st.none() | st.builds(
    Facts, deployment_status=st.sampled_from([None, "Status.READY", "Status.ERROR",
                                              "Status.TERMINATED", "Status.DEPLOYING"]),
    ready_at=st.none() | st.just(READY_AT), checked=st.booleans(), stopping=st.booleans(),
    observed=OBSERVED, heartbeat_seconds=st.floats(min_value=1, max_value=3600),
    runtime_state=st.sampled_from(["running", "stopping", "stopped", "starting", "unknown"]))


@given(FACTS)
def test_overall_always_agrees_with_the_runtime(given_facts: Facts | None) -> None:
    found = derive(given_facts, NOW)
    assert found.message and found.reason_code
    if found.lifecycle == "running":
        assert found.overall == overall_of("running", found.health)
    elif found.lifecycle == "not-deployed":
        assert (found.overall, found.health) == ("not-deployed", "unknown")
    else:
        assert found.overall == overall_of(found.lifecycle, found.health)


@given(LIFECYCLES, HEALTHS)
def test_one_observation_alone(lifecycle: str, health: str) -> None:
    overall = overall_of(lifecycle, health)
    if lifecycle == "running":
        assert overall == health
    else:
        assert overall == ("stopped" if lifecycle == "stopped" else "unhealthy")
