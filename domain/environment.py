"""Environments: a project's places to deploy to (local, staging, production...), each with its
own variables, which resources in it inherit (domain/variables.py: PRECEDENCE).

A locked environment stays readable but refuses every mutation except unlock: its own changes
and, through `check_mutable`, those of the resources in it and their deployments. Archiving is
for good (Appaloft has no unarchive); deployment history stays readable.
"""

from __future__ import annotations

import re
from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.renaming import Renamable, check_name
from domain.shared import (
    GoneError,
    InvalidValueError,
    StateConflictError,
    check_reason,
    declared_by_fields,
    shown,
)
from domain.soft_delete import SoftDeletable
from domain.variables import Configurable, VariableWasSet, VariableWasUnset

MAX_REASON = 500
KIND = re.compile(r"^[a-z][a-z0-9-]{0,31}\Z")
ACTIVE, LOCKED, ARCHIVED = "active", "locked", "archived"


class EnvironmentGoneError(GoneError):
    """The environment was deleted with its project."""


class EnvironmentLockedError(StateConflictError):
    """A locked environment refuses mutations until unlocked."""


class EnvironmentArchivedError(StateConflictError):
    """An archived environment is read-only for good (it stays readable)."""


def check_kind(kind: str) -> str:
    if not KIND.match(kind):
        raise InvalidValueError(f"must match {shown(KIND.pattern)} (local, staging, production...)",
                                "kind")
    return kind


@declared_by_fields
class Environment(SoftDeletable, Configurable, Renamable, Aggregate):
    """One environment of one project."""

    id: UUID
    project_id: UUID
    name: str
    kind: str
    at: datetime
    # The environment this one was cloned or promoted from (None: created on its own, or
    # created before clones recorded it).
    parent_environment_id: UUID | None = None
    locked_at: datetime | None = field(default=None, init=False)
    lock_reason: str | None = field(default=None, init=False)
    archived_at: datetime | None = field(default=None, init=False)
    archive_reason: str | None = field(default=None, init=False)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    deleted: bool = field(default=False, init=False)

    @classmethod
    def create(  # noqa: PLR0913 - the source of a clone is named, not positional
        cls, environment_id: UUID, project_id: UUID, name: str, kind: str, at: datetime, *,
        parent_environment_id: UUID | None = None,
    ) -> Environment:
        check_name(name)
        check_kind(kind)
        return cls(id=environment_id, project_id=project_id, name=name, kind=kind, at=at,
                   parent_environment_id=parent_environment_id)

    def gone(self) -> GoneError:
        return EnvironmentGoneError(f"environment {self.name} was deleted with its project")

    @property
    def lifecycle_status(self) -> str:
        if self.archived_at is not None:
            return ARCHIVED
        return LOCKED if self.locked_at is not None else ACTIVE

    def check_open(self) -> None:
        self.check_live()
        if self.archived_at is not None:
            raise EnvironmentArchivedError(f"environment {self.name} is archived")

    def check_mutable(self) -> None:
        """Open and unlocked: what any change in this environment needs."""
        self.check_open()
        self.check_unlocked()

    def check_unlocked(self) -> None:
        """What deleting a resource needs: cleaning up is allowed in an archived environment
        (its containers could not be stopped otherwise), not while it is locked."""
        if self.locked_at is not None:
            why = f" ({self.lock_reason})" if self.lock_reason else ""
            raise EnvironmentLockedError(f"environment {self.name} is locked{why}")

    @event("Renamed")
    def _renamed(self, name: str, at: datetime) -> None:
        self.name = name

    def lock(self, reason: str | None, at: datetime) -> None:
        """Locking a locked environment changes nothing (its first reason stays)."""
        self.check_open()
        check_reason(reason, MAX_REASON)
        if self.locked_at is None:
            self._locked(reason=reason, at=at)

    @event("Locked")
    def _locked(self, reason: str | None, at: datetime) -> None:
        self.locked_at = at
        self.lock_reason = reason

    def unlock(self, at: datetime) -> None:
        self.check_open()
        if self.locked_at is not None:
            self._unlocked(at=at)

    @event("Unlocked")
    def _unlocked(self, at: datetime) -> None:
        self.locked_at = None
        self.lock_reason = None

    def clone(self, environment_id: UUID, name: str, at: datetime,
              kind: str | None = None) -> Environment:
        """A new environment of the same project holding this one's variables (secrets as
        sealed as they are here), of this one's kind or of `kind`: Appaloft's promote is a clone
        into a named environment of another kind (staging to production). Appaloft clones and
        promotes an active environment only: a locked or archived one is refused."""
        self.check_mutable()
        copy = Environment.create(environment_id, self.project_id, name, kind or self.kind, at,
                                  parent_environment_id=self.id)
        for entry in self.variables.values():
            copy.set_variable(entry["key"], entry["exposure"], entry["value"], entry["sealed"],
                              at)
        return copy

    def archive(self, reason: str | None, at: datetime) -> None:
        self.check_mutable()
        check_reason(reason, MAX_REASON)
        self._archived(reason=reason, at=at)

    @event("Archived")
    def _archived(self, reason: str | None, at: datetime) -> None:
        self.archived_at = at
        self.archive_reason = reason

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True

    class VariableSet(VariableWasSet):
        """Stored as `domain.environment:Environment.VariableSet` (applied: domain/variables.py)."""

    class VariableUnset(VariableWasUnset):
        """Stored as `domain.environment:Environment.VariableUnset`."""
