"""An application and its versions: what a deployment runs (image, ports, resources, env).

One aggregate holds an application with all its versions, so version names stay unique and an
application with versions cannot be deleted from under them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.resource_profiles import check_image
from domain.shared import (
    GoneError,
    InvalidValueError,
    StateConflictError,
    declared_by_fields,
    name_id,
    shown,
)
from domain.soft_delete import SoftDeletable

APP_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?\Z")
VERSION_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?\Z")
PROTOCOLS = ("TCP", "UDP", "TCP/UDP", "HTTP", "HTTPS", "WS", "WSS")
RESERVED_ENV = "ARBITRIUM_"  # the platform's own variables (the request id, the delete URL...)
# Both rules in one pattern, so the request bodies declare it to clients as well.
ENV_KEY_PATTERN = rf"^(?!{RESERVED_ENV})[A-Za-z_][A-Za-z0-9_]{{0,127}}\Z"
_ENV_KEY = re.compile(ENV_KEY_PATTERN)
MAX_ENV = 256  # variables a version, and a deployment adds at most as many


def check_env_key(key: str, field: str) -> None:
    if not _ENV_KEY.match(key):
        raise InvalidValueError(f"must match {shown(ENV_KEY_PATTERN)} (no {RESERVED_ENV} prefix:"
                                " the platform sets those)", field)


class AppExistsError(StateConflictError):
    """An application or version with that name already exists."""


def app_uuid(name: str) -> UUID:
    return name_id("app", name)


def check_version(spec: dict[str, Any]) -> None:
    """Rules on a version's spec: each broken rule names its field (422)."""
    if not VERSION_NAME.match(spec["name"]):
        raise InvalidValueError("letters, digits, dots, hyphens and underscores; at most 128",
                                "name")
    # One rule for every image (an engine refused "busybox\x7f" only on the node, at start).
    check_image(spec["image"])
    names = [p["name"] for p in spec["ports"]]
    if len(set(names)) != len(names):
        raise InvalidValueError("port names must be unique", "ports")
    for i, port in enumerate(spec["ports"]):
        if port["protocol"] not in PROTOCOLS:
            raise InvalidValueError(f"must be one of {', '.join(PROTOCOLS)}",
                                    f"ports[{i}].protocol")
    keys = [v["key"] for v in spec["env"]]
    if len(set(keys)) != len(keys):
        raise InvalidValueError("environment variable keys must be unique", "env")
    for i, key in enumerate(keys):
        check_env_key(key, f"env[{i}].key")
    for name in ("command", "arguments"):
        # The agent splits them as a shell would (shlex): an unbalanced quote must be refused
        # here, not found on a node as a start that can never happen.
        try:
            shlex.split(spec.get(name) or "")
        except ValueError as exc:
            raise InvalidValueError(f"must split as shell words ({exc})", name) from None


@declared_by_fields
class App(SoftDeletable, Aggregate):
    """An application; its versions are kept in `versions` by name."""

    id: UUID
    name: str
    at: datetime
    versions: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(cls, name: str, at: datetime) -> App:
        if not APP_NAME.match(name):
            raise InvalidValueError("lowercase letters, digits and hyphens; at most 64", "name")
        return cls(id=app_uuid(name), name=name, at=at)

    def gone(self) -> GoneError:
        return GoneError(f"application {self.name} was deleted")

    def add_version(self, spec: dict[str, Any], at: datetime) -> None:
        self.check_live()
        check_version(spec)
        spec = {**spec, "app": self.name}
        if spec["name"] in self.versions:
            raise AppExistsError(f"version {spec['name']} already exists", "name")
        self._version_added(spec=spec, at=at)

    @event("VersionAdded")
    def _version_added(self, spec: dict[str, Any], at: datetime) -> None:
        self.versions[spec["name"]] = {**spec, "inserted_at": at}

    def spec_of(self, name: str) -> dict[str, Any]:
        self.check_live()
        found = self.versions.get(name)
        if found is None:
            raise GoneError(f"version {name} of {self.name} not found", "version")
        return found

    def remove_version(self, name: str, at: datetime) -> None:
        self.spec_of(name)
        self._version_removed(app=self.name, version=name, at=at)

    @event("VersionRemoved")
    def _version_removed(self, app: str, version: str, at: datetime) -> None:
        self.versions.pop(version, None)

    def check_deletable(self) -> None:
        if self.versions:
            raise StateConflictError(
                f"application {self.name} still has {len(self.versions)} version(s)")

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True

    def restore(self, at: datetime) -> None:
        """Its name registered again after a delete (the id is derived from the name)."""
        if self.deleted:
            self._restored(at=at)

    @event("Restored")
    def _restored(self, at: datetime) -> None:
        self.deleted = False
        self.versions = {}
