"""Projects, environments and resources through the real write path (in-memory store): ids and
name claims, the environment lock reaching every change below it, secrets sealed before they
are stored, camelCase input structs, and the snapshot a deployment will run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from application.environments import (
    ArchiveEnvironment,
    CloneEnvironment,
    CreateEnvironment,
    Environments,
    LockEnvironment,
    RenameEnvironment,
    SetVariable,
    UnsetVariable,
)
from application.errors import NotFoundError
from application.projects import (
    ArchiveProject,
    CreateProject,
    DeleteProject,
    Projects,
    RenameProject,
)
from application.resources import (
    ConfigureHealthPolicy,
    ConfigureNetworkProfile,
    ConfigureRuntimeProfile,
    ConfigureSource,
    CreateResource,
    CreateSecret,
    DeleteResource,
    Resources,
    RotateSecret,
    snapshot_for_deployment,
)
from application.write_path import UnitOfWork
from domain.claims import NameTakenError
from domain.environment import EnvironmentArchivedError, EnvironmentLockedError
from domain.project import ProjectActiveError, ProjectArchivedError, ProjectNotEmptyError
from domain.resource import Resource
from domain.resource_attempts import ResourceBusyError
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services
from entrypoints.replay import rebuild
from tests.legacy import delete_project_leaving_environments


class Core:
    """The three services over one write path, and a way to read an aggregate back."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.projects = Projects(services.writes, services.resource_reads)
        self.environments = Environments(services.writes, services.box)
        self.resources = Resources(services.writes, services.box)

    def load(self, aggregate_id: UUID) -> Any:
        return self.services.store.repository.get(aggregate_id)

    def tree(self) -> tuple[UUID, UUID, UUID]:
        project = self.projects.create(CreateProject(name="Shop"))
        environment = self.environments.create(CreateEnvironment(project_id=project,
                                                                  name="production"))
        resource = self.resources.create(CreateResource(
            project_id=project, environment_id=environment, name="Web Console"))
        return project, environment, resource


@pytest.fixture
def core(memory_services: Services) -> Core:
    return Core(memory_services)


def decode(raw: dict[str, Any], type_: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(raw), type=type_)


def test_the_wire_names_are_appaloft_camel_case_and_bounded() -> None:
    cmd = decode({"projectId": str(uuid4()), "environmentId": str(uuid4()), "name": "web"},
                 CreateResource)
    assert cmd.kind == "application"
    health = decode({"healthCheck": {"type": "http", "intervalSeconds": 2, "retries": 5,
                                     "http": {"path": "/healthz", "expectedStatusCode": 204}}},
                    ConfigureHealthPolicy)
    assert health.health_check.policy()["expected_status"] == 204
    refused: list[tuple[dict[str, Any], type[Any]]] = [
        ({"project_id": str(uuid4()), "name": "x"}, CreateEnvironment),
        ({"networkProfile": {"internalPort": 0}}, ConfigureNetworkProfile),
        ({"networkProfile": {"internalPort": 2**63}}, ConfigureNetworkProfile),
        ({"healthCheck": {"retries": 101}}, ConfigureHealthPolicy),
        ({"healthCheck": {"http": {"path": "no-slash"}}}, ConfigureHealthPolicy),
        ({"key": "A", "value": "x" * 4097}, SetVariable),
        ({"key": "A", "value": "v", "exposure": "build"}, SetVariable),
        ({"runtimeProfile": {"args": ["a"] * 65}}, ConfigureRuntimeProfile),
        ({"source": {"locator": "x" * 513}}, ConfigureSource),
        ({"name": "x" * 101}, CreateProject),
    ]
    for raw, type_ in refused:
        with pytest.raises(msgspec.ValidationError):
            decode(raw, type_)


def test_the_tree_is_created_with_unique_names_per_scope(core: Core) -> None:
    project, environment, resource = core.tree()
    loaded = core.load(resource)
    assert (loaded.project_id, loaded.environment_id, loaded.slug) == (project, environment,
                                                                       "web-console")
    with pytest.raises(NameTakenError):
        core.projects.create(CreateProject(name="shop"))  # the same slug
    with pytest.raises(NameTakenError):
        core.environments.create(CreateEnvironment(project_id=project, name="production"))
    with pytest.raises(NameTakenError):
        core.resources.create(CreateResource(project_id=project, environment_id=environment,
                                             name="web console"))
    other = core.projects.create(CreateProject(name="Other"))
    core.environments.create(CreateEnvironment(project_id=other, name="production"))
    with pytest.raises(InvalidValueError) as err:
        core.resources.create(CreateResource(project_id=other, environment_id=environment,
                                             name="api"))
    assert err.value.field == "environmentId"
    with pytest.raises(NotFoundError):
        core.resources.create(CreateResource(project_id=project, environment_id=uuid4(),
                                             name="api"))


def test_an_environment_rename_moves_its_name_claim(core: Core) -> None:
    project, environment, _ = core.tree()
    core.environments.rename(environment, RenameEnvironment(name="prod"))
    core.environments.create(CreateEnvironment(project_id=project, name="production"))
    with pytest.raises(NameTakenError):
        core.environments.create(CreateEnvironment(project_id=project, name="prod"))


def test_a_project_is_archived_and_emptied_before_its_delete_frees_its_slug(core: Core) -> None:
    project, _, resource = core.tree()
    with pytest.raises(InvalidValueError):
        core.projects.delete(project, decode({"confirmation": {"projectId": str(uuid4())}},
                                             DeleteProject))
    confirm = decode({"confirmation": {"projectId": str(project)}}, DeleteProject)
    with pytest.raises(ProjectActiveError):
        core.projects.delete(project, confirm)
    core.projects.archive(project, ArchiveProject(reason="moving"))
    with pytest.raises(ProjectArchivedError):
        core.projects.rename(project, RenameProject(name="Shop 2"))
    with pytest.raises(ProjectArchivedError):
        core.environments.create(CreateEnvironment(project_id=project, name="staging"))
    with pytest.raises(ProjectNotEmptyError) as held:
        core.projects.delete(project, confirm)
    assert held.value.blockers == [resource]
    core.resources.delete(resource, decode({"confirmation": {"resourceSlug": "web-console"}},
                                           DeleteResource))
    core.projects.delete(project, confirm)
    with pytest.raises(NotFoundError):
        core.projects.restore(project)
    core.projects.create(CreateProject(name="Shop"))


def test_environments_a_project_deleted_before_left_behind_are_gone(services: Services) -> None:
    """A project deleted before its delete took its environments with it left them listed,
    readable and writable. The read model now drops them with the project (on a rebuild too),
    and the application refuses them as the deleted environments they are; the resource such a
    delete could leave behind can still be deleted (its container stopped). On every store."""
    core = Core(services)
    project, environment, resource = core.tree()
    core.environments.set_variable(environment, SetVariable(key="MODE", value="prod"))
    core.projects.archive(project, ArchiveProject())
    delete_project_leaving_environments(core.services, project)
    writes: list[Callable[[], object]] = [
        lambda: core.environments.set_variable(environment, SetVariable(key="A", value="b")),
        lambda: core.environments.unset_variable(environment, "MODE", UnsetVariable()),
        lambda: core.environments.lock(environment, LockEnvironment()),
        lambda: core.environments.unlock(environment),
        lambda: core.environments.rename(environment, RenameEnvironment(name="renamed")),
        lambda: core.environments.archive(environment, ArchiveEnvironment()),
        lambda: core.environments.clone(environment, CloneEnvironment(target_name="copy")),
        lambda: core.resources.create(CreateResource(
            project_id=project, environment_id=environment, name="api")),
    ]
    for write in writes:
        with pytest.raises(NotFoundError, match="not found"):
            write()
    core.resources.delete(resource, decode({"confirmation": {"resourceSlug": "web-console"}},
                                           DeleteResource))
    reads = core.services.resource_reads
    for _ in ("live", "rebuilt"):
        assert reads.environments.get(environment) is None
        assert reads.environment_list(project, 10) == []
        core.services.projector.stop()
        rebuild(core.services)


LOCKED_CHANGES: dict[str, Callable[[Core, UUID], object]] = {
    "source": lambda c, r: c.resources.configure_source(r, decode(
        {"source": {"locator": "busybox:1.36"}}, ConfigureSource)),
    "runtime": lambda c, r: c.resources.configure_runtime(r, decode(
        {"runtimeProfile": {"command": "httpd", "args": ["-f"]}}, ConfigureRuntimeProfile)),
    "network": lambda c, r: c.resources.configure_network(r, decode(
        {"networkProfile": {"internalPort": 8080}}, ConfigureNetworkProfile)),
    "health": lambda c, r: c.resources.configure_health(r, decode(
        {"healthCheck": {"type": "tcp", "port": 8080}}, ConfigureHealthPolicy)),
    "reset": lambda c, r: c.resources.reset_health(r),
    "variable": lambda c, r: c.resources.set_variable(r, SetVariable(key="A", value="1")),
    "secret": lambda c, r: c.resources.create_secret(r, CreateSecret(key="S", value="s")),
    "archive": lambda c, r: c.resources.archive(r),
    "delete": lambda c, r: c.resources.delete(r, decode(
        {"confirmation": {"resourceSlug": "web-console"}}, DeleteResource)),
}


@pytest.mark.parametrize("change", sorted(LOCKED_CHANGES))
def test_a_locked_environment_refuses_every_change_to_its_resources(core: Core,
                                                                    change: str) -> None:
    _, environment, resource = core.tree()
    core.environments.lock(environment, LockEnvironment(lock_reason="freeze"))
    before = core.load(resource).version
    with pytest.raises(EnvironmentLockedError):
        LOCKED_CHANGES[change](core, resource)
    assert core.load(resource).version == before
    core.environments.unlock(environment)
    LOCKED_CHANGES[change](core, resource)


def test_an_archived_environment_takes_no_variable(core: Core) -> None:
    _, environment, _ = core.tree()
    core.environments.archive(environment, ArchiveEnvironment())
    with pytest.raises(EnvironmentArchivedError):
        core.environments.set_variable(environment, SetVariable(key="A", value="1"))


def test_secrets_are_stored_only_sealed_and_open_to_their_value(core: Core) -> None:
    _, environment, resource = core.tree()
    box = core.services.box
    core.resources.create_secret(resource, CreateSecret(key="DB_PASSWORD", value="hunter2-xyz"))
    core.resources.rotate_secret(resource, "DB_PASSWORD", RotateSecret(value="rotated-abc"))
    core.environments.set_variable(environment, decode(
        {"key": "API_TOKEN", "value": "env-secret-123", "isSecret": True}, SetVariable))
    core.environments.set_variable(environment, SetVariable(key="REGION", value="eu"))
    stored = [e.state for e in core.services.store.recorder.select_events(resource)] + [
        e.state for e in core.services.store.recorder.select_events(environment)]
    assert not any(secret in raw for raw in stored
                   for secret in (b"hunter2-xyz", b"rotated-abc", b"env-secret-123"))
    sealed = core.load(resource).variable("DB_PASSWORD", "runtime")["sealed"]
    assert box.open(sealed) == b"rotated-abc"
    core.environments.unset_variable(environment, "REGION", UnsetVariable())
    with pytest.raises(NotFoundError):
        core.environments.unset_variable(environment, "REGION", UnsetVariable())


def test_the_snapshot_is_taken_in_a_decision_and_refused_while_locked(core: Core) -> None:
    _, environment, resource = core.tree()
    LOCKED_CHANGES["source"](core, resource)
    LOCKED_CHANGES["network"](core, resource)
    core.environments.set_variable(environment, SetVariable(key="MODE", value="env"))
    core.resources.set_variable(resource, SetVariable(key="MODE", value="resource"))

    def take(uow: UnitOfWork) -> ResourceSnapshot:
        return snapshot_for_deployment(uow, resource)

    snapshot = core.services.writes.run(take)
    assert snapshot.image == "busybox:1.36" and snapshot.internal_port == 8080
    assert [(v["key"], v["value"], v["scope"]) for v in snapshot.variables] == [
        ("MODE", "resource", "resource")]
    core.environments.lock(environment, LockEnvironment())
    with pytest.raises(EnvironmentLockedError):
        core.services.writes.run(take)


def test_a_resource_with_an_attempt_in_progress_is_not_deleted(core: Core) -> None:
    _, _, resource = core.tree()
    LOCKED_CHANGES["source"](core, resource)
    attempt = uuid4()

    def begin(uow: UnitOfWork) -> None:
        uow.get(Resource, resource, "resource").begin_deployment(attempt, "create", uow.now)

    core.services.writes.run(begin)
    with pytest.raises(ResourceBusyError) as err:
        LOCKED_CHANGES["delete"](core, resource)
    assert err.value.blockers == [attempt]
    with pytest.raises(InvalidValueError):
        core.resources.delete(resource, decode({"confirmation": {"resourceSlug": "nope"}},
                                               DeleteResource))

    def settle(uow: UnitOfWork) -> None:
        uow.get(Resource, resource, "resource").settle_deployment(attempt, "succeeded", uow.now)

    core.services.writes.run(settle)
    LOCKED_CHANGES["delete"](core, resource)
    with pytest.raises(NotFoundError):
        LOCKED_CHANGES["source"](core, resource)
