"""Project commands (Appaloft's /projects): create, rename, describe, archive, restore, delete.

Input structs carry Appaloft's camelCase wire names (`rename="camel"`); every text is bounded
here, at the edge, and again by the aggregate's own rules. A project's slug is unique: a name
claim holds it, released when the project is deleted.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from msgspec import Meta

from application.clusters import add_named, release_name
from application.ports import ProjectContents
from application.write_path import UnitOfWork, WritePath
from domain.claims import NameClaim
from domain.environment import Environment
from domain.project import MAX_DESCRIPTION, MAX_REASON, Project, ProjectNotEmptyError
from domain.renaming import MAX_NAME
from domain.resource import Resource
from domain.shared import InvalidValueError

ProjectName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
Description = Annotated[str, Meta(max_length=MAX_DESCRIPTION)]
Reason = Annotated[str, Meta(min_length=1, max_length=MAX_REASON)]


class AppaloftBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """The base of every Appaloft request body (projects, environments, resources,
    deployments): its camelCase wire names, and any other field refused."""


class CreateProject(AppaloftBody):
    """Body of POST /projects."""

    name: ProjectName
    description: Description = ""


class RenameProject(AppaloftBody):
    """Body of POST /projects/{projectId}/rename."""

    name: ProjectName


class DescribeProject(AppaloftBody):
    """Body of POST /projects/{projectId}/description (empty or omitted: cleared)."""

    description: Description = ""


class ArchiveProject(AppaloftBody):
    """Body of POST /projects/{projectId}/archive."""

    reason: Reason | None = None


class ProjectConfirmation(AppaloftBody):
    project_id: UUID


class DeleteProject(AppaloftBody):
    """Body of DELETE /projects/{projectId}: the id again, as a deliberate confirmation."""

    confirmation: ProjectConfirmation


def project_claim_id(slug: str) -> UUID:
    return NameClaim.id_for("project", slug)


def live_project(uow: UnitOfWork, project_id: UUID) -> Project:
    return uow.get(Project, project_id, f"project {project_id}")


def _live_resource(uow: UnitOfWork, resource_id: UUID) -> bool:
    found = uow.find(Resource, resource_id)
    return found is not None and not found.deleted


def _live_environments(uow: UnitOfWork, listed: list[UUID], project: Project,
                       ) -> list[Environment]:
    """The project's environments not yet deleted: those the read model listed and those the
    project recorded (a create committed after that read among them)."""
    found = (uow.find(Environment, e) for e in dict.fromkeys([*listed, *project.environment_ids]))
    return [e for e in found if e is not None and not e.deleted and e.project_id == project.id]


class Projects:
    """Application service for projects."""

    def __init__(self, writes: WritePath, contents: ProjectContents) -> None:
        self.writes = writes
        self.contents = contents

    def create(self, cmd: CreateProject) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            project = Project.create(uuid4(), cmd.name, uow.now, cmd.description)
            return add_named(uow, project, project_claim_id(project.slug),
                             f"project slug {project.slug}")

        return self.writes.run(decide)

    def rename(self, project_id: UUID, cmd: RenameProject) -> UUID:
        """The name changes; the slug (and so its claim) stays."""
        return self.writes.change(live_project, project_id, lambda p, now: p.rename(cmd.name, now))

    def describe(self, project_id: UUID, cmd: DescribeProject) -> UUID:
        return self.writes.change(live_project, project_id,
                                  lambda p, now: p.describe(cmd.description, now))

    def archive(self, project_id: UUID, cmd: ArchiveProject) -> UUID:
        return self.writes.change(live_project, project_id,
                                  lambda p, now: p.archive(cmd.reason, now))

    def restore(self, project_id: UUID) -> UUID:
        return self.writes.change(live_project, project_id, lambda p, now: p.restore(now))

    def delete(self, project_id: UUID, cmd: DeleteProject) -> UUID:
        if cmd.confirmation.project_id != project_id:
            raise InvalidValueError("must equal the project's id", "confirmation.projectId")

        # The read model knows the resources and environments created before projects recorded
        # theirs; the project knows every one since, including a create committed after this
        # read.
        listed = self.contents.resource_ids(project_id)
        environments = self.contents.environment_ids(project_id)

        def decide(uow: UnitOfWork) -> UUID:
            project = live_project(uow, project_id)
            project.check_deletable()
            held = [*listed, *(r for r in project.resource_ids
                               if r not in listed and _live_resource(uow, r))]
            if held:
                raise ProjectNotEmptyError(
                    f"project {project.slug} still has resources; delete them first", held)
            project.delete(uow.now)
            # Its environments go with it (Appaloft has no environment delete of its own): left
            # behind, they stayed listed, readable and writable under a project that was gone.
            for environment in _live_environments(uow, environments, project):
                environment.delete(uow.now)
            release_name(uow, project_claim_id(project.slug), project.id)
            return project_id

        return self.writes.run(decide)

