"""A resource's health, derived plainly from what is known of its current deployment: the
attempt that last became healthy (succeeded or rolled-back), the state of its Deployment and
the agent's latest observation of its container (issue 17, Appaloft's `resources.health/v1`).

Pure: the caller passes every fact and `now`. The rules, in order:
- no healthy attempt yet: `not-deployed`;
- its Deployment ended: `stopped` when it was asked to stop, else `unhealthy` (the container
  exited: a crash, or a failed check the agent ended it for);
- a runtime control stopped its container (kept to start again): `stopped`;
- still running: the latest observation says `healthy` or `unhealthy`; with none yet, the
  ready report is the last word (its check passed then); an observation older than STALE_AFTER
  says nothing any more (`unknown`: the agent has gone quiet); without a health policy the
  agent checks nothing, so a running container is `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Overall = Literal["healthy", "unhealthy", "unknown", "not-deployed", "stopped"]
RuntimeLifecycle = Literal["not-deployed", "running", "exited", "stopped"]
RuntimeHealth = Literal["healthy", "unhealthy", "unknown"]
# Repeated heartbeats missed before an observation no longer counts (the agent's heartbeat is
# HEALTH_HEARTBEAT_SECONDS, or one check interval when that is longer).
STALE_HEARTBEATS = 3


@dataclass(frozen=True)
class Observed:
    """The latest thing the agent said of the container (lifecycle and health)."""

    at: datetime
    lifecycle: str
    health: str
    message: str = ""


@dataclass(frozen=True)
class Facts:
    """What the admin knows of the resource's current deployment (None: none is current)."""

    deployment_status: str | None  # the Deployment's Status.* value
    ready_at: datetime | None
    checked: bool  # its snapshot has an enabled health policy
    stopping: bool  # a stop was asked (by an operator, a newer deployment, a cancel)
    observed: Observed | None
    heartbeat_seconds: float
    # What runtime controls made of its container: "stopping"/"stopped" once one stops it (the
    # Deployment stays READY: the container is kept, to start again).
    runtime_state: str = "running"


@dataclass(frozen=True)
class Health:
    overall: Overall
    lifecycle: RuntimeLifecycle
    health: RuntimeHealth
    observed_at: datetime | None
    reason_code: str
    message: str


def derive(facts: Facts | None, now: datetime) -> Health:
    if facts is None or facts.deployment_status is None:
        return Health("not-deployed", "not-deployed", "unknown", None, "no-healthy-deployment",
                      "the resource has no deployment that became healthy")
    observed = facts.observed
    if facts.deployment_status in ("Status.ERROR", "Status.TERMINATED"):
        if facts.stopping or facts.deployment_status == "Status.TERMINATED":
            return Health("stopped", "stopped", "unknown", _at(observed), "runtime-stopped",
                          "the current deployment was stopped")
        return Health("unhealthy", "exited", "unhealthy", _at(observed), "runtime-exited",
                      (observed.message if observed else "") or "the container exited")
    if facts.runtime_state in ("stopping", "stopped"):
        # Before the agent's failing probes of a stopped container: those say nothing here.
        return Health("stopped", "stopped", "unknown", _at(observed), "runtime-stopped",
                      f"a runtime control stopped its container ({facts.runtime_state})")
    if observed is not None and observed.lifecycle == "stopped":
        return Health("stopped", "stopped", "unknown", observed.at, "runtime-stopped",
                      observed.message or "the container was stopped")
    if observed is not None and observed.lifecycle in ("exited", "missing"):
        return Health("unhealthy", "exited", "unhealthy", observed.at, "runtime-exited",
                      observed.message or "the container is not running")
    if not facts.checked:
        return Health("unknown", "running", "unknown", _at(observed), "health-policy-disabled",
                      "no health check is configured: the container runs")
    if observed is None:
        return Health("healthy", "running", "healthy", facts.ready_at, "ready-report",
                      "its health check passed when it started")
    if now - observed.at > timedelta(seconds=STALE_HEARTBEATS * facts.heartbeat_seconds):
        return Health("unknown", "running", "unknown", observed.at, "health-report-stale",
                      f"no report from the agent since {observed.at.isoformat()}")
    if observed.health == "healthy":
        return Health("healthy", "running", "healthy", observed.at, "health-check-passed",
                      observed.message or "its health check passes")
    if observed.health == "unhealthy":
        return Health("unhealthy", "running", "unhealthy", observed.at, "health-check-failed",
                      observed.message or "its health check fails")
    return Health("unknown", "running", "unknown", observed.at, "health-unknown",
                  observed.message or "the agent could not tell")


def _at(observed: Observed | None) -> datetime | None:
    return None if observed is None else observed.at


def overall_of(lifecycle: str, health: str) -> Overall:
    """What one observation says on its own (a history row): a running container's health, an
    ended one's end."""
    if lifecycle == "stopped":
        return "stopped"
    if lifecycle != "running":
        return "unhealthy"
    return "healthy" if health == "healthy" else "unhealthy" if health == "unhealthy" \
        else "unknown"
