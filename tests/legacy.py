"""Logs that earlier releases wrote and this one no longer can, made through the real write path
so a test can hold today's read side and application to them.

Before a project's delete took its environments with it, the delete recorded Project.Deleted
only: its environments kept no mark of it, and a write to one of them (or an environment created
in the same moment as the delete) could still land after it.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from application.clusters import release_name
from application.projects import project_claim_id
from application.write_path import UnitOfWork
from domain.environment import Environment
from domain.project import Project
from entrypoints.bootstrap import Services


def delete_project_leaving_environments(services: Services, project_id: UUID) -> UUID:
    """The delete of an archived project as it was decided before (resources not checked)."""
    def decide(uow: UnitOfWork) -> UUID:
        project = uow.get(Project, project_id, f"project {project_id}")
        project.delete(uow.now)
        release_name(uow, project_claim_id(project.slug), project.id)
        return project_id

    return services.writes.run(decide)


def write_left_environment(services: Services, environment_id: UUID) -> None:
    """A variable set and a lock on an environment of a deleted project, as they were taken."""
    def decide(uow: UnitOfWork) -> None:
        environment = uow.get(Environment, environment_id, f"environment {environment_id}")
        environment.set_variable("LEFT", "runtime", "over", None, uow.now)
        environment.lock("left behind", uow.now)

    services.writes.run(decide)


def create_environment_after(services: Services, project_id: UUID) -> UUID:
    """An environment whose create read its project active and committed after its delete."""
    def decide(uow: UnitOfWork) -> UUID:
        environment = Environment.create(uuid4(), project_id, "late", "local", uow.now)
        uow.add(environment)
        return environment.id

    return services.writes.run(decide)
