"""What a node should start or stop, answered inside its work poll.

A poll names the deployments the agent holds. The answer lists those placed on the node that it
does not hold yet (with everything needed to run them) and those it holds that must stop: a stop
was asked, the admin no longer knows them as live, or they are over as an ERROR (a start the
admin gave up on that the node made late: nothing may run that the admin does not account for).
A ready one the agent does not hold has lost its container: it becomes an error.

Every answer repeats the node's stops until their containers are gone (so a lost answer costs
nothing), but a stop answers a poll at once only when it is new to the node (StopsHandedOut):
one its agent is carrying out (a container has 10 s to end) answered each poll at once, the
agent waits a second between such polls, and a deployment placed meanwhile waited for that.

A spec with an enabled `health` policy (a Resource's snapshot: domain/resource_snapshot.py) is
handed out with its check, in the agent protocol's names (HealthCheck): the agent reports it
ready only once the check passes. Any spec may carry one, so this is also how an Edgegap-shaped
spec would get a check; none of the Edgegap inputs sets it today.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from application.agent_protocol import DeploymentReport, HealthCheck
from application.apps import env_value, reveal
from application.ports import DeploymentRef, SecretBox, UnsealError
from domain.deployment import Status

if TYPE_CHECKING:
    from application.deployments import Deployments


CHECK_FIELDS = ("type", "path", "expected_status", "interval_seconds", "timeout_seconds",
                "retries", "start_period_seconds")


def health_check(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's HealthCheck for a spec's `health` policy, or None (no policy, disabled, or
    no port to check: the resource plan refuses that one). The policy names the container's
    port, or else the check uses the port the resource serves on, or its first one."""
    policy = spec.get("health")
    if not policy or not policy.get("enabled", True):
        return None
    port = policy.get("port") or (spec.get("resource") or {}).get("internal_port") or next(
        (p["port"] for p in spec.get("ports") or []), None)
    if port is None:
        return None
    given = {k: policy[k] for k in CHECK_FIELDS if policy.get(k) is not None}
    check = msgspec.convert({"port": port, **given}, HealthCheck)  # ValidationError: a bad one
    return dict(msgspec.to_builtins(check))


def health_allowance(spec: dict[str, Any]) -> float:
    """Seconds a start may take beyond the start deadline for its health check to run out:
    the start period, then every retry's interval and timeout."""
    try:
        check = health_check(spec)
    except msgspec.ValidationError:
        return 0.0  # never handed out: work_for fails it
    if check is None:
        return 0.0
    return float(check["start_period_seconds"] + check["retries"] * (
        check["interval_seconds"] + check["timeout_seconds"]))


def start_spec(box: SecretBox, row: DeploymentRef) -> dict[str, Any]:
    """What the agent needs to run a deployment: secrets unsealed only here, on their way to
    the node that runs the container."""
    spec = json.loads(row.spec)
    tags = spec.get("tags", [])
    env = {v["key"]: env_value(box, v) for v in spec["env"]}
    env.update({
        "ARBITRIUM_REQUEST_ID": row.request_id,
        "ARBITRIUM_DELETE_URL": spec["delete_url"],
        "ARBITRIUM_DELETE_TOKEN": reveal(box, spec["delete_token"]),
        "ARBITRIUM_DEPLOYMENT_TAGS": json.dumps(tags),
        "ARBITRIUM_DEPLOYMENT_LOCATION": row.location or "{}",
        "ARBITRIUM_DEPLOYMENT_VCPU_UNITS": str(spec["cpu_units"]),
        "ARBITRIUM_DEPLOYMENT_MEMORY_MB": str(spec["memory_mb"]),
    })
    return {"request_id": row.request_id, "image": spec["image"], "ports": spec["ports"],
            "env": env, "cpu_units": spec["cpu_units"], "memory_mb": spec["memory_mb"],
            "command": spec["command"], "arguments": spec["arguments"],
            "max_duration": spec["max_duration"], "health": health_check(spec)}


# A stop handed out this long ago answers a poll at once again (an agent restarted meanwhile
# forgot it; the answers that came for other reasons, or at the poll's end, carried it too).
# Longer than a container's stop grace (10 s) and its removal: at 10 s, the stop of one still
# ending answered a poll at once and the agent waited its quiet second again.
REPEAT_STOP_AFTER = 30.0


class StopsHandedOut:
    """The stops this admin process handed to each node, and when (monotonic seconds)."""

    def __init__(self) -> None:
        self._handed: dict[UUID, dict[str, float]] = {}

    def fresh(self, node_id: UUID, stops: Sequence[str], now: float) -> bool:
        """Whether one of `stops` was not handed to the node within REPEAT_STOP_AFTER."""
        handed = self._handed.get(node_id, {})
        return any(now - handed.get(r, -math.inf) >= REPEAT_STOP_AFTER for r in stops)

    def handed(self, node_id: UUID, stops: Sequence[str], now: float) -> None:
        """An answer carried `stops` (and no other: those are done)."""
        if stops:
            self._handed[node_id] = dict.fromkeys(stops, now)
        else:
            self._handed.pop(node_id, None)


def writes_nothing(live: Sequence[DeploymentRef], held: Sequence[str]) -> bool:
    """Whether `work_for` decides these deployments without writing: every one the agent does
    not hold has failed. (A start to hand out may not unseal or may carry a refused policy,
    and a ready container the agent does not hold is lost: each is recorded.)"""
    holding = set(held)
    return all(r.request_id in holding or r.status == Status.ERROR.value for r in live)


def work_for(deployments: Deployments, node_id: UUID, held: Sequence[str],
             live: Sequence[DeploymentRef] | None = None) -> dict[str, list[Any]]:
    if live is None:
        live = deployments.finder.live_on(node_id)
    rows = {r.request_id: r for r in live}
    holding = set(held)
    starts = []
    for request_id, row in rows.items():
        if request_id not in holding and row.status == Status.DEPLOYING.value:
            try:
                starts.append(start_spec(deployments.box, row))
            except UnsealError as exc:  # the others still start
                deployments.cannot_start(node_id, request_id, exc)
            except msgspec.ValidationError as exc:  # a policy the domain would not have taken
                deployments.report(node_id, request_id, DeploymentReport(
                    state="error", detail=f"invalid health policy: {exc}"[:4000]))
    stops = sorted(r for r in holding if r not in rows or rows[r].stopping
                   or rows[r].status == Status.ERROR.value)
    # Ready here but not held there: the agent holds every container it started or found at
    # its start, so this one was removed while no agent watched it (an agent restart).
    lost = sorted(r for r, row in rows.items()
                  if r not in holding and row.status == Status.READY.value)
    if lost:
        deployments.lost(node_id, lost)
    return {"deployments": starts, "stop_deployments": stops}
