"""Read-model changes for projects, environments, resources, their variables, and the attempts
of deployments of resources (Appaloft's views).

Handlers are pure: an event maps to changes without reading the view. The attempt status is
folded as domain/deployment_attempt.py's `advance` says, with conditional Patches (a Patch
touches the rows whose columns equal its `where`): one per status the event moves on from, so
the read side never needs the current row. A test holds the two to the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.deployment import Deployment
from domain.deployment_attempt import TERMINAL, AttemptStatus, advance, is_rollback
from domain.environment import Environment
from domain.project import Project
from domain.resource import Resource
from domain.resource_attempts import HEALTHY_OUTCOMES
from domain.resource_profiles import DEFAULT_HEALTH
from domain.shared import name_id
from domain.variables import masked
from projections.model import Change, Delete, Increment, Patch, Upsert
from projections.resource_tables import TIMELINE

Handler = Callable[[Any], list[Change]]


def variable_id(owner_id: Any, exposure: str, key: str) -> Any:
    return name_id("config-variable", str(owner_id), exposure, key)


def _by_id(e: Any) -> dict[str, Any]:
    return {"id": e.originator_id}


def _patch(table: str, **names: str) -> Handler:
    """Copies event attributes (values of `names`) into columns (keys of `names`)."""
    def handle(e: Any) -> list[Change]:
        fields = {col: getattr(e, attr) for col, attr in names.items()}
        return [Patch(table, _by_id(e), {**fields, "updated_at": e.at})]

    return handle


def _set(table: str, **fields: Any) -> Handler:
    def handle(e: Any) -> list[Change]:
        return [Patch(table, _by_id(e), {**fields, "updated_at": e.at})]

    return handle


# --- projects and environments ----------------------------------------------------------------
def _project_created(e: Any) -> list[Change]:
    return [Upsert("projects", {
        "id": e.originator_id, "name": e.name, "slug": e.slug, "description": e.description,
        "lifecycle_status": "active", "archived_at": None, "archive_reason": None,
        "inserted_at": e.at, "updated_at": e.at})]


def _environment_created(e: Any) -> list[Change]:
    return [Upsert("environments", {
        "id": e.originator_id, "project_id": e.project_id, "name": e.name, "kind": e.kind,
        # Events from before clones recorded their source have no such attribute.
        "parent_environment_id": getattr(e, "parent_environment_id", None),
        "lifecycle_status": "active", "locked_at": None, "lock_reason": None,
        "archived_at": None, "archive_reason": None, "inserted_at": e.at, "updated_at": e.at})]


def _environment_deleted(e: Any) -> list[Change]:
    return [Delete("environments", _by_id(e)),
            Delete("config_variables", {"owner_id": e.originator_id})]


def _project_deleted(e: Any) -> list[Change]:
    """The project's row, and its environments' rows: a project deleted before its delete
    recorded one Environment.Deleted each left them (their variables' rows stay, unread: none
    names its project)."""
    return [Delete("projects", _by_id(e)),
            Delete("environments", {"project_id": e.originator_id})]


def _variable_set(scope: str) -> Handler:
    def handle(e: Any) -> list[Change]:
        secret = e.kind == "secret"
        return [Upsert("config_variables", {
            "id": variable_id(e.originator_id, e.exposure, e.key), "owner_id": e.originator_id,
            "scope": scope, "key": e.key, "exposure": e.exposure, "kind": e.kind,
            "is_secret": secret, "plain_value": None if secret else e.value,
            "sealed_value": e.sealed if secret else None, "updated_at": e.at})]

    return handle


def _variable_unset(e: Any) -> list[Change]:
    return [Delete("config_variables", {"id": variable_id(e.originator_id, e.exposure, e.key)})]


# --- resources --------------------------------------------------------------------------------
def _resource_created(e: Any) -> list[Change]:
    return [Upsert("resources", {
        "id": e.originator_id, "project_id": e.project_id, "environment_id": e.environment_id,
        "name": e.name, "slug": e.slug, "kind": e.kind, "description": e.description,
        "image": None, "command": None, "args": "[]", "internal_port": None,
        "protocol": "http", "health": json.dumps(DEFAULT_HEALTH, sort_keys=True),
        "automatic_rollback": False,
        "lifecycle_status": "active", "archived_at": None, "deployment_count": 0,
        "last_deployment_id": None, "active_deployment_id": None,
        "serving_deployment_id": None, "inserted_at": e.at, "updated_at": e.at})]


def _runtime(e: Any) -> list[Change]:
    return _set("resources", command=e.command, args=json.dumps(list(e.args)))(e)


def _health(e: Any) -> list[Change]:
    return _set("resources", health=json.dumps(dict(e.policy), sort_keys=True))(e)


def _deployment_begun(e: Any) -> list[Change]:
    where = _by_id(e)
    return [Patch("resources", where, {"last_deployment_id": e.deployment_id,
                                       "active_deployment_id": e.deployment_id,
                                       "updated_at": e.at}),
            Increment("resources", where, "deployment_count", 1)]


def _deployment_settled(e: Any) -> list[Change]:
    fields: dict[str, Any] = {"active_deployment_id": None, "updated_at": e.at}
    if e.status in HEALTHY_OUTCOMES:
        fields["serving_deployment_id"] = e.deployment_id
    return [Patch("resources", _by_id(e), fields)]


def _resource_deleted(e: Any) -> list[Change]:
    return [Delete("resources", _by_id(e)),
            Delete("config_variables", {"owner_id": e.originator_id})]


# --- attempts: deployments of resources --------------------------------------------------------
def masked_snapshot(spec: dict[str, Any]) -> dict[str, Any]:
    """What an attempt runs, as a read shows it: every secret masked, nothing sealed."""
    own = spec["resource"]
    return {"image": spec["image"], "command": spec["command"], "args": list(own["args"]),
            "internalPort": own["internal_port"], "protocol": own["protocol"],
            "health": dict(spec["health"]), "precedence": list(own["precedence"]),
            "variables": [masked(v) for v in own["variables"]],
            "cpuUnits": spec["cpu_units"], "memoryMb": spec["memory_mb"],
            "createdAt": own.get("created_at")}  # None for snapshots taken before it was kept


def _uuid(value: str | None) -> UUID | None:
    """Ids in a spec are JSON text; columns hold UUIDs (compared as such by every view)."""
    return None if value is None else UUID(value)


def _attempt_requested(e: Any) -> list[Change]:
    spec = e.spec
    own = spec.get("resource")
    if not isinstance(own, dict):
        return []  # not a resource's deployment (Edgegap, Mengi)
    source = _uuid(spec.get("source_deployment_id"))
    candidate = _uuid(spec.get("rollback_candidate_deployment_id"))
    row = {"id": e.originator_id, "request_id": e.request_id,
           "project_id": UUID(own["project_id"]),
           "environment_id": UUID(own["environment_id"]),
           "resource_id": UUID(own["resource_id"]),
           "server_id": None, "trigger_kind": spec.get("trigger") or "create",
           "source_deployment_id": source, "rollback_candidate_id": candidate,
           "is_rollback": is_rollback(spec), "status": AttemptStatus.CREATED.value,
           "snapshot": json.dumps(masked_snapshot(spec), sort_keys=True), "error_detail": None,
           "failure_reported": None, "created_at": e.at, "started_at": None, "finished_at": None,
           **{f"{p}_{c}": None for p in TIMELINE.values() for c in ("seq", "at")},
           "requested_seq": e.originator_version, "requested_at": e.at, "archived_at": None,
           "updated_at": e.at}
    return [Upsert("deployment_attempts", row)]


# The statuses these handlers ever write (planning and planned are never observed: placement
# shares the request's decision), so the only ones an event can move an attempt on from.
_OPEN = (AttemptStatus.CREATED, AttemptStatus.RUNNING, AttemptStatus.CANCEL_REQUESTED)


def _moves(e: Any, name: str) -> list[Patch]:
    """Conditional patches: for each status this event can move an attempt on from, the status
    `advance` gives (for Ready, per rollback flag: it decides what healthy is called)."""
    changes: list[Patch] = []
    for current in _OPEN:
        for rollback in ((False, True) if name == "Ready" else (False,)):
            after = advance(current, name, rollback)
            if after == current:
                continue
            fields: dict[str, Any] = {"status": after.value}
            if after in TERMINAL:
                fields["finished_at"] = e.at
            where: dict[str, Any] = {"id": e.originator_id, "status": current.value}
            if name == "Ready":
                where["is_rollback"] = rollback
            changes.append(Patch("deployment_attempts", where, fields))
    return changes


def _attempt_event(name: str) -> Handler:
    prefix = TIMELINE[name]

    def handle(e: Any) -> list[Change]:
        stamp = {f"{prefix}_seq": e.originator_version, f"{prefix}_at": e.at,
                 "updated_at": e.at}
        if name == "Placed":
            stamp |= {"server_id": e.node_id, "started_at": e.at}
        elif name == "Failed":
            stamp |= {"error_detail": e.detail, "failure_reported": e.reported}
        return [Patch("deployment_attempts", _by_id(e), stamp), *_moves(e, name)]

    return handle


RESOURCE_HANDLERS: dict[type[Any], Handler] = {
    Project.Created: _project_created,
    Project.Renamed: _patch("projects", name="name"),
    Project.DescriptionSet: _patch("projects", description="description"),
    Project.ResourceAdded: lambda e: [],  # the resource's own Created makes its row
    Project.EnvironmentAdded: lambda e: [],  # the environment's own Created makes its row
    Project.Archived: lambda e: _set("projects", lifecycle_status="archived", archived_at=e.at,
                                     archive_reason=e.reason)(e),
    Project.Restored: _set("projects", lifecycle_status="active", archived_at=None,
                           archive_reason=None),
    Project.Deleted: _project_deleted,
    Environment.Created: _environment_created,
    Environment.Renamed: _patch("environments", name="name"),
    Environment.Locked: lambda e: _set("environments", lifecycle_status="locked",
                                       locked_at=e.at, lock_reason=e.reason)(e),
    Environment.Unlocked: _set("environments", lifecycle_status="active", locked_at=None,
                               lock_reason=None),
    Environment.Archived: lambda e: _set("environments", lifecycle_status="archived",
                                         archived_at=e.at, archive_reason=e.reason)(e),
    Environment.Deleted: _environment_deleted,
    Environment.VariableSet: _variable_set("environment"),
    Environment.VariableUnset: _variable_unset,
    Resource.Created: _resource_created,
    Resource.SourceConfigured: _patch("resources", image="image"),
    Resource.RuntimeProfileConfigured: _runtime,
    Resource.NetworkProfileConfigured: _patch("resources", internal_port="internal_port",
                                              protocol="protocol"),
    Resource.HealthPolicyConfigured: _health,
    Resource.HealthPolicyReset: lambda e: _set(
        "resources", health=json.dumps(DEFAULT_HEALTH, sort_keys=True))(e),
    Resource.RollbackPolicyConfigured: _patch("resources", automatic_rollback="automatic"),
    Resource.AutomaticRollbackDecided: lambda e: [],  # its attempt's own events show it
    Resource.VariableSet: _variable_set("resource"),
    Resource.VariableUnset: _variable_unset,
    Resource.DeploymentBegun: _deployment_begun,
    Resource.DeploymentSettled: _deployment_settled,
    Resource.Archived: lambda e: _set("resources", lifecycle_status="archived",
                                      archived_at=e.at)(e),
    Resource.Deleted: _resource_deleted,
}

# Deployment events also move the attempt views; projections/fleet.py chains these after the
# deployment table's own handlers.
ATTEMPT_HANDLERS: dict[type[Any], Handler] = {
    Deployment.Requested: _attempt_requested,
    **{getattr(Deployment, name): _attempt_event(name) for name in TIMELINE if
       name != "Requested"},
    # Not on the timeline: the attempt's status and events stay as they were.
    Deployment.Archived: lambda e: [Patch("deployment_attempts", _by_id(e),
                                          {"archived_at": e.at, "updated_at": e.at})],
}
