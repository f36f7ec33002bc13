"""Projects: the top of the Project → Environment → Resource hierarchy (Appaloft's core).

A project is active or archived; only an archived project can be deleted (Appaloft's
delete-check blocker `active-project`), so deleting is always a second, deliberate step. Its slug
is derived from the name once, at create, and kept on rename: it is how clients and the
uniqueness claim address it.

A resource created in a project is recorded on the project too (`ResourceAdded`): that write is
what makes a create that read the project active conflict with an archive or delete committed
meanwhile, so a delete never leaves a resource behind that its check did not see. An
environment created in it is recorded the same way (`EnvironmentAdded`): deleting the project
deletes its environments in the same decision, every one of them, a concurrent create included.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.renaming import Renamable, check_name
from domain.shared import (
    BlockedError,
    GoneError,
    StateConflictError,
    check_reason,
    check_text,
    declared_by_fields,
    slug_of,
)
from domain.soft_delete import SoftDeletable

MAX_DESCRIPTION = 1000
MAX_REASON = 500
ACTIVE, ARCHIVED = "active", "archived"


class ProjectGoneError(GoneError):
    """The project was deleted."""


class ProjectArchivedError(StateConflictError):
    """An archived project is read-only until restored."""


class ProjectActiveError(StateConflictError):
    """Only an archived project can be deleted (blocker kind `active-project`)."""


class ProjectNotEmptyError(BlockedError):
    """A project is deleted once its resources are (blocker kind `active-resource`): deleting
    it left them, their environments and their containers running with no project."""

    def __init__(self, message: str, blockers: list[UUID]) -> None:
        super().__init__(message, "projectId", blockers)


def check_description(description: str) -> str:
    return check_text(description, "description", MAX_DESCRIPTION, min_length=0)


@declared_by_fields
class Project(SoftDeletable, Renamable, Aggregate):
    """A named group of environments."""

    id: UUID
    name: str
    slug: str
    description: str
    at: datetime
    lifecycle_status: str = field(default=ACTIVE, init=False)
    archived_at: datetime | None = field(default=None, init=False)
    archive_reason: str | None = field(default=None, init=False)
    deleted: bool = field(default=False, init=False)
    # Resources created in it (those created before this was recorded are only in the read
    # model); a deleted one stays listed: deleting the project looks each up.
    resource_ids: list[UUID] = field(default_factory=list, init=False)
    # Environments created in it, likewise (the older ones are only in the read model).
    environment_ids: list[UUID] = field(default_factory=list, init=False)

    @classmethod
    def create(cls, project_id: UUID, name: str, at: datetime, description: str = "") -> Project:
        check_name(name)
        check_description(description)
        return cls(id=project_id, name=name, slug=slug_of(name), description=description, at=at)

    def gone(self) -> GoneError:
        return ProjectGoneError(f"project {self.slug} was deleted")

    @property
    def archived(self) -> bool:
        return self.lifecycle_status == ARCHIVED

    def check_mutable(self) -> None:
        """Live and not archived: what every change to it or below it needs."""
        self.check_live()
        if self.archived:
            raise ProjectArchivedError(f"project {self.slug} is archived; restore it first")

    @event("Renamed")
    def _renamed(self, name: str, at: datetime) -> None:
        self.name = name

    def describe(self, description: str, at: datetime) -> None:
        self.check_mutable()
        check_description(description)
        if description != self.description:
            self._description_set(description=description, at=at)

    @event("DescriptionSet")
    def _description_set(self, description: str, at: datetime) -> None:
        self.description = description

    def archive(self, reason: str | None, at: datetime) -> None:
        """Archiving an archived project changes nothing."""
        self.check_live()
        check_reason(reason, MAX_REASON)
        if not self.archived:
            self._archived(reason=reason, at=at)

    @event("Archived")
    def _archived(self, reason: str | None, at: datetime) -> None:
        self.lifecycle_status = ARCHIVED
        self.archived_at = at
        self.archive_reason = reason

    def restore(self, at: datetime) -> None:
        """Restoring an active project changes nothing."""
        self.check_live()
        if self.archived:
            self._restored(at=at)

    @event("Restored")
    def _restored(self, at: datetime) -> None:
        self.lifecycle_status = ACTIVE
        self.archived_at = None
        self.archive_reason = None

    def add_resource(self, resource_id: UUID, at: datetime) -> None:
        self.check_mutable()
        self._resource_added(resource_id=resource_id, at=at)

    @event("ResourceAdded")
    def _resource_added(self, resource_id: UUID, at: datetime) -> None:
        self.resource_ids = [*self.resource_ids, resource_id]

    def add_environment(self, environment_id: UUID, at: datetime) -> None:
        self.check_mutable()
        self._environment_added(environment_id=environment_id, at=at)

    @event("EnvironmentAdded")
    def _environment_added(self, environment_id: UUID, at: datetime) -> None:
        self.environment_ids = [*self.environment_ids, environment_id]

    def check_deletable(self) -> None:
        if not self.archived:
            raise ProjectActiveError(
                f"project {self.slug} is active; archive it before deleting it", "projectId")

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
