"""Read-model changes for applications, hosts and deployments."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from domain.app import App
from domain.deployment import Deployment, Status, hook_id
from domain.host import Host
from domain.shared import name_id
from projections.model import Change, Delete, Increment, Patch, Upsert

Handler = Callable[[Any], list[Change]]


def version_id(app: str, version: str) -> Any:
    return name_id("app-version", app, version)


def tag_id(deployment_id: Any, name: str, version: int) -> Any:
    """A tag row's id, fixed when the tag is added (at the deployment's `version`): a rename
    changes the row's name, not its id, so create_time stays. The version tells apart a name
    added again after it was renamed away."""
    return name_id("deployment-tag", str(deployment_id), name, str(version))


def _app_row(e: Any) -> list[Change]:
    return [Upsert("apps", {"id": e.originator_id, "name": e.name, "version_count": 0,
                            "deleted": False, "inserted_at": e.at, "updated_at": e.at})]


def _app_restored(e: Any) -> list[Change]:
    """The name registered again: the kept row comes back as new (Restored names nothing)."""
    return [Patch("apps", {"id": e.originator_id}, {"deleted": False, "version_count": 0,
                                                    "inserted_at": e.at, "updated_at": e.at})]


def _version_added(e: Any) -> list[Change]:
    spec = e.spec
    row = {"id": version_id(spec["app"], spec["name"]), "app_name": spec["app"],
           "name": spec["name"], "image": spec["image"], "ports": json.dumps(spec["ports"]),
           "cpu_units": spec["cpu_units"], "memory_mb": spec["memory_mb"],
           "env": json.dumps(spec["env"]), "max_duration": spec["max_duration"],
           "command": spec["command"], "arguments": spec["arguments"], "inserted_at": e.at}
    return [Upsert("app_versions", row),
            Increment("apps", {"id": e.originator_id}, "version_count", 1)]


def _version_removed(e: Any) -> list[Change]:
    return [Delete("app_versions", {"id": version_id(e.app, e.version)}),
            Increment("apps", {"id": e.originator_id}, "version_count", -1)]


def _host_row(e: Any) -> list[Change]:
    row = {"node_id": e.node_id, "fleet": e.fleet, "location": json.dumps(e.location),
           "cpu_units": e.cpu_units, "memory_mb": e.memory_mb, "allocated_cpu_units": 0,
           "allocated_memory_mb": 0, "deployment_count": 0, "inserted_at": e.at,
           "updated_at": e.at}
    return [Upsert("hosts", row)]


def _host_updated(e: Any) -> list[Change]:
    fields = {"fleet": e.fleet, "location": json.dumps(e.location), "cpu_units": e.cpu_units,
              "memory_mb": e.memory_mb, "updated_at": e.at}
    return [Patch("hosts", {"node_id": e.node_id}, fields)]


def _allocation(sign: int) -> Handler:
    def handle(e: Any) -> list[Change]:
        where = {"node_id": e.node_id}
        return [Increment("hosts", where, "allocated_cpu_units", sign * e.cpu_units),
                Increment("hosts", where, "allocated_memory_mb", sign * e.memory_mb),
                Increment("hosts", where, "deployment_count", sign)]

    return handle


def _requested(e: Any) -> list[Change]:
    spec = e.spec
    row = {"request_id": e.request_id, "id": e.originator_id, "app_name": spec["app"],
           "app_version": spec["version"], "status": Status.SEEKING.value, "last_status": None,
           "error": False, "error_detail": "", "start_time": e.at, "spec": json.dumps(spec),
           "delete_token": spec["delete_token"], "max_duration": spec["max_duration"],
           "ports": "{}", "location": "{}", "updated_at": e.at}
    tags = [_tag_row(e, t) for t in spec.get("tags", [])]
    hooks = [Upsert("deployment_hooks", {"id": hook_id(e.request_id, kind),
                                         "request_id": e.request_id, "kind": kind, "url": url,
                                         "secret": spec["hook_secret"]})
             for kind, url in (spec.get("webhooks") or {}).items() if url]
    return [Upsert("deployments", row), *tags, *hooks]


def _tag_row(e: Any, name: str) -> Change:
    row_id = tag_id(e.originator_id, name, e.originator_version)
    return Upsert("deployment_tags", {"id": row_id, "deployment_id": e.originator_id,
                                      "name": name, "create_time": e.at, "last_updated": e.at})


def _patch(e: Any, **fields: Any) -> list[Change]:
    return [Patch("deployments", {"id": e.originator_id}, {**fields, "updated_at": e.at})]


def _tag_named(e: Any, name: str) -> dict[str, Any]:
    """The row of the deployment's tag `name` (the domain keeps names unique per deployment)."""
    return {"deployment_id": e.originator_id, "name": name}


def _tag_renamed(e: Any) -> list[Change]:
    return [Patch("deployment_tags", _tag_named(e, e.old), {"name": e.new, "last_updated": e.at})]


DEPLOYMENT_HANDLERS: dict[type[Any], Handler] = {
    App.Created: _app_row,
    App.Restored: _app_restored,
    App.VersionAdded: _version_added,
    App.VersionRemoved: _version_removed,
    App.Deleted: lambda e: [Patch("apps", {"id": e.originator_id},
                                  {"deleted": True, "updated_at": e.at})],
    Host.Profiled: _host_row,
    Host.Updated: _host_updated,
    Host.Allocated: _allocation(1),
    Host.Released: _allocation(-1),
    Deployment.Requested: _requested,
    Deployment.Placed: lambda e: _patch(e, node_id=e.node_id, location=json.dumps(e.location),
                                        status=Status.DEPLOYING.value,
                                        last_status=Status.SEEKING.value),
    Deployment.Ready: lambda e: _patch(e, status=Status.READY.value, ready_at=e.at,
                                       last_status=Status.DEPLOYING.value,
                                       ports=json.dumps(e.ports), public_ip=e.public_ip),
    Deployment.Failed: lambda e: _patch(e, status=Status.ERROR.value, last_status=e.previous,
                                        error=True, error_detail=e.detail,
                                        exit_code=e.exit_code),
    Deployment.StopDeferred: lambda e: _patch(e, stop_pending=e.reason),
    Deployment.StopRequested: lambda e: _patch(e, stopping=e.reason, stop_pending=None),
    Deployment.Terminated: lambda e: _patch(e, status=Status.TERMINATED.value,
                                            last_status=e.previous, removal_time=e.at,
                                            stopping=None, stop_pending=None,
                                            exit_code=e.exit_code),
    Deployment.TagAdded: lambda e: [_tag_row(e, e.name)],
    Deployment.TagRenamed: _tag_renamed,
    Deployment.TagRemoved: lambda e: [Delete("deployment_tags", _tag_named(e, e.name))],
}
