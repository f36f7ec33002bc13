"""Environment commands (Appaloft's /environments): create in an active project, rename, lock,
unlock, archive, set and unset variables.

A variable marked secret is sealed here (SecretBox) before the aggregate sees it, as deployment
environment values and webhook secrets are. Variables default to the `runtime` exposure: a
container gets runtime variables; build-time ones are kept for the builds this platform does not
run yet. Names are unique within a project (a name claim per project and name).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from msgspec import Meta

from application.clusters import add_named, claim_name, release_name
from application.errors import NotFoundError
from application.ports import SecretBox, UnsealError
from application.projects import AppaloftBody, live_project
from application.write_path import UnitOfWork, WritePath
from domain.app import ENV_KEY_PATTERN
from domain.claims import NameClaim
from domain.environment import MAX_REASON, Environment
from domain.project import Project
from domain.renaming import MAX_NAME
from domain.variables import MAX_VALUE, SECRET, Change, compare

EnvironmentName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
EnvironmentKind = Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9-]*\Z")]
Reason = Annotated[str, Meta(min_length=1, max_length=MAX_REASON)]
VariableKey = Annotated[str, Meta(min_length=1, max_length=128, pattern=ENV_KEY_PATTERN)]
VariableValue = Annotated[str, Meta(max_length=MAX_VALUE)]
Exposure = Literal["build-time", "runtime"]


class CreateEnvironment(AppaloftBody):
    """Body of POST /environments."""

    project_id: UUID
    name: EnvironmentName
    kind: EnvironmentKind = "local"


class RenameEnvironment(AppaloftBody):
    """Body of POST /environments/{environmentId}/rename."""

    name: EnvironmentName


class CloneEnvironment(AppaloftBody):
    """Body of POST /environments/{environmentId}/clone."""

    target_name: EnvironmentName


class PromoteEnvironment(AppaloftBody):
    """Body of POST /environments/{environmentId}/promote."""

    target_name: EnvironmentName
    target_kind: EnvironmentKind


class LockEnvironment(AppaloftBody):
    """Body of POST /environments/{environmentId}/lock."""

    lock_reason: Reason | None = None


class ArchiveEnvironment(AppaloftBody):
    """Body of POST /environments/{environmentId}/archive."""

    archive_reason: Reason | None = None


class SetVariable(AppaloftBody):
    """Body of POST /environments/{id}/variables and /resources/{id}/variables."""

    key: VariableKey
    value: VariableValue
    exposure: Exposure = "runtime"
    kind: Literal["plain-config", "secret"] = "plain-config"
    is_secret: bool = False

    @property
    def secret(self) -> bool:
        return self.is_secret or self.kind == SECRET


class UnsetVariable(AppaloftBody):
    """Body of DELETE .../variables/{key}."""

    exposure: Exposure = "runtime"


def environment_claim_id(project_id: UUID, name: str) -> UUID:
    return NameClaim.id_for("environment", str(project_id), name)


def live_environment(uow: UnitOfWork, environment_id: UUID) -> Environment:
    """The environment, not deleted and in a project not deleted: a project deleted before
    its delete took its environments with it left them without a Deleted of their own."""
    what = f"environment {environment_id}"
    environment = uow.get(Environment, environment_id, what)
    project = uow.find(Project, environment.project_id)
    if project is None or project.deleted:
        raise NotFoundError(f"{what} not found")
    return environment


def _created(uow: UnitOfWork, project: Project, environment: Environment) -> UUID:
    """A new environment, recorded on its project too: written, not only read, so an archive
    or delete of the project committed since this decision's read makes the save conflict and
    the create is decided again (refused then)."""
    project.add_environment(environment.id, uow.now)
    return add_named(uow, environment,
                     environment_claim_id(environment.project_id, environment.name),
                     f"environment {environment.name}")


def sealed_or_plain(box: SecretBox, cmd: SetVariable) -> tuple[str | None, str | None]:
    """(value, sealed): a secret leaves this function only sealed."""
    if cmd.secret:
        return None, box.seal(cmd.value.encode())
    return cmd.value, None


class Environments:
    """Application service for environments."""

    def __init__(self, writes: WritePath, box: SecretBox) -> None:
        self.writes, self.box = writes, box

    def create(self, cmd: CreateEnvironment) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            project = live_project(uow, cmd.project_id)
            project.check_mutable()
            return _created(uow, project, Environment.create(
                uuid4(), cmd.project_id, cmd.name, cmd.kind, uow.now))

        return self.writes.run(decide)

    def rename(self, environment_id: UUID, cmd: RenameEnvironment) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            environment = live_environment(uow, environment_id)
            old = environment.name
            environment.rename(cmd.name, uow.now)
            if old != environment.name:
                project_id = environment.project_id
                claim_name(uow, environment_claim_id(project_id, cmd.name), environment_id,
                           f"environment {cmd.name}")
                release_name(uow, environment_claim_id(project_id, old), environment_id)
            return environment_id

        return self.writes.run(decide)

    def clone(self, environment_id: UUID, cmd: CloneEnvironment) -> UUID:
        """The new environment's id; its name is claimed in the project as a created one's."""
        return self._copy(environment_id, cmd.target_name, None)

    def promote(self, environment_id: UUID, cmd: PromoteEnvironment) -> UUID:
        """A clone of another kind: the new environment's id."""
        return self._copy(environment_id, cmd.target_name, cmd.target_kind)

    def _copy(self, environment_id: UUID, name: str, kind: str | None) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            source = live_environment(uow, environment_id)
            project = live_project(uow, source.project_id)
            project.check_mutable()
            return _created(uow, project, source.clone(uuid4(), name, uow.now, kind))

        return self.writes.run(decide)

    def diff(self, left: dict[str, dict[str, Any]], right: dict[str, dict[str, Any]],
             ) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None, Change]]:
        """Two environments' own entries (read-model entries, secrets sealed) compared entry by
        entry: secrets are opened here only to compare them, and go no further."""
        return compare(left, right, self._same_secret)

    def _same_secret(self, sealed: str, other: str) -> bool:
        """Whether two sealed values hold the same secret. One sealed value that does not
        open (its key is gone from ENCRYPTION_KEY) cannot be shown equal: it counts as
        changed."""
        if sealed == other:  # a clone's or a promotion's secret, sealed once
            return True
        try:
            return hmac.compare_digest(self.box.open(sealed), self.box.open(other))
        except UnsealError:
            return False

    def lock(self, environment_id: UUID, cmd: LockEnvironment) -> UUID:
        return self.writes.change(live_environment, environment_id,
                                  lambda e, now: e.lock(cmd.lock_reason, now))

    def unlock(self, environment_id: UUID) -> UUID:
        return self.writes.change(live_environment, environment_id, lambda e, now: e.unlock(now))

    def archive(self, environment_id: UUID, cmd: ArchiveEnvironment) -> UUID:
        """The name stays claimed: an archived environment stays readable under it."""
        return self.writes.change(live_environment, environment_id,
                                  lambda e, now: e.archive(cmd.archive_reason, now))

    def set_variable(self, environment_id: UUID, cmd: SetVariable) -> None:
        value, sealed = sealed_or_plain(self.box, cmd)

        self.writes.change(live_environment, environment_id, lambda e, now: e.set_variable(
            cmd.key, cmd.exposure, value, sealed, now))

    def unset_variable(self, environment_id: UUID, key: str, cmd: UnsetVariable) -> None:
        self.writes.change(live_environment, environment_id,
                           lambda e, now: e.unset_variable(key, cmd.exposure, now))
