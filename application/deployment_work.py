"""What a node should start or stop, answered inside its work poll.

A poll names the deployments the agent holds. The answer lists those placed on the node that it
does not hold yet (with everything needed to run them) and those it holds that must stop: a stop
was asked, the admin no longer knows them as live, or they are over as an ERROR (a start the
admin gave up on that the node made late: nothing may run that the admin does not account for).
A ready one the agent does not hold has lost its container: it becomes an error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.apps import env_value, reveal
from application.ports import SecretBox, UnsealError
from domain.deployment import Status

if TYPE_CHECKING:
    from application.deployments import Deployments


def start_spec(box: SecretBox, row: dict[str, Any]) -> dict[str, Any]:
    """What the agent needs to run a deployment: secrets unsealed only here, on their way to
    the node that runs the container."""
    spec = json.loads(row["spec"])
    tags = spec.get("tags", [])
    env = {v["key"]: env_value(box, v) for v in spec["env"]}
    env.update({
        "ARBITRIUM_REQUEST_ID": row["request_id"],
        "ARBITRIUM_DELETE_URL": spec["delete_url"],
        "ARBITRIUM_DELETE_TOKEN": reveal(box, spec["delete_token"]),
        "ARBITRIUM_DEPLOYMENT_TAGS": json.dumps(tags),
        "ARBITRIUM_DEPLOYMENT_LOCATION": row.get("location") or "{}",
        "ARBITRIUM_DEPLOYMENT_VCPU_UNITS": str(spec["cpu_units"]),
        "ARBITRIUM_DEPLOYMENT_MEMORY_MB": str(spec["memory_mb"]),
    })
    return {"request_id": row["request_id"], "image": spec["image"], "ports": spec["ports"],
            "env": env, "cpu_units": spec["cpu_units"], "memory_mb": spec["memory_mb"],
            "command": spec["command"], "arguments": spec["arguments"],
            "max_duration": spec["max_duration"]}


def work_for(deployments: Deployments, node_id: UUID,
             held: Sequence[str]) -> dict[str, list[Any]]:
    rows = {r["request_id"]: r for r in deployments.finder.live_on(node_id)}
    holding = set(held)
    starts = []
    for request_id, row in rows.items():
        if request_id not in holding and row["status"] == Status.DEPLOYING.value:
            try:
                starts.append(start_spec(deployments.box, row))
            except UnsealError as exc:  # the others still start
                deployments.cannot_start(node_id, request_id, exc)
    stops = sorted(r for r in holding if r not in rows or rows[r].get("stopping")
                   or rows[r]["status"] == Status.ERROR.value)
    # Ready here but not held there: the agent holds every container it started or found at
    # its start, so this one was removed while no agent watched it (an agent restart).
    lost = sorted(r for r, row in rows.items()
                  if r not in holding and row["status"] == Status.READY.value)
    if lost:
        deployments.lost(node_id, lost)
    return {"deployments": starts, "stop_deployments": stops}
