"""Resource commands (Appaloft's /resources): create in an environment, configure the source
image, runtime, network and health profiles, variables and sealed secrets, archive, delete.

Every change loads the resource's environment too: a locked or archived environment refuses
it (the Resource aggregate cannot see its environment's lock). `snapshot_for_deployment` is the
one place a deployment takes what it will run: the resource as it is, merged with its
environment's variables, inside the deployment's own decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import msgspec
from msgspec import Meta

from application.clusters import add_named, release_name
from application.environments import (
    Exposure,
    SetVariable,
    UnsetVariable,
    VariableKey,
    VariableValue,
    live_environment,
    sealed_or_plain,
)
from application.errors import NotSupportedError
from application.ports import SecretBox
from application.projects import AppaloftBody, live_project
from application.write_path import UnitOfWork, WritePath
from domain.claims import NameClaim
from domain.deployment import Deployment, Status
from domain.deployment_attempt import HEALTHY, TERMINAL, attempt_of
from domain.dotenv import MAX_CONTENT, Duplicate, looks_secret, parse_dotenv
from domain.environment import Environment
from domain.resource import MAX_DESCRIPTION, MAX_NAME, Resource
from domain.resource_profiles import (
    MAX_ARGS,
    MAX_COMMAND,
    MAX_IMAGE,
    MAX_PATH,
    MAX_RETRIES,
    MAX_SECONDS,
)
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import InvalidValueError
from domain.variables import ImportAction

IMAGE_SOURCE = "docker-image"
ResourceName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
Image = Annotated[str, Meta(min_length=1, max_length=MAX_IMAGE)]
Command = Annotated[str, Meta(min_length=1, max_length=MAX_COMMAND)]
Argument = Annotated[str, Meta(max_length=MAX_COMMAND)]
Port = Annotated[int, Meta(ge=1, le=65535)]
Seconds = Annotated[int, Meta(ge=1, le=MAX_SECONDS)]
Label = Annotated[str, Meta(max_length=200)]


class CreateResource(AppaloftBody):
    """Body of POST /resources."""

    project_id: UUID
    environment_id: UUID
    name: ResourceName
    kind: Literal["application"] = "application"
    description: Annotated[str, Meta(max_length=MAX_DESCRIPTION)] = ""


SourceKey = Annotated[str, Meta(min_length=1, max_length=100)]


class Source(AppaloftBody):
    """A container image here. Appaloft's other kinds (a folder, a repository...) need builds
    this platform does not do: they are decoded, to be refused as such (403), not as bad
    input; so are the fields only they use (baseDirectory, metadata)."""

    locator: Image
    kind: Annotated[str, Meta(min_length=1, max_length=64)] = IMAGE_SOURCE
    display_name: Label | None = None
    base_directory: Label | None = None
    metadata: Annotated[dict[SourceKey, Label], Meta(max_length=32)] | None = None


class ConfigureSource(AppaloftBody):
    """Body of POST /resources/{id}/source. The command is idempotent by value (the same image
    again records nothing), so `idempotencyKey` is accepted and needs no bookkeeping."""

    source: Source
    idempotency_key: Label | None = None


class RuntimeProfile(AppaloftBody):
    command: Command | None = None  # the entrypoint, split into words like a shell would
    args: Annotated[list[Argument], Meta(max_length=MAX_ARGS)] = msgspec.field(default_factory=list)


class ConfigureRuntimeProfile(AppaloftBody):
    """Body of POST /resources/{id}/runtime-profile."""

    runtime_profile: RuntimeProfile


class NetworkProfile(AppaloftBody):
    internal_port: Port
    protocol: Literal["http", "tcp", "udp"] = "http"


class ConfigureNetworkProfile(AppaloftBody):
    """Body of POST /resources/{id}/network-profile."""

    network_profile: NetworkProfile


class HttpCheck(AppaloftBody):
    path: Annotated[str, Meta(min_length=1, max_length=MAX_PATH, pattern=r"^/")] = "/"
    expected_status_code: Annotated[int, Meta(ge=100, le=599)] = 200
    port: Port | None = None


class HealthCheck(AppaloftBody):
    """Appaloft's health check object: HTTP (path, expected status) or TCP (connect)."""

    enabled: bool = True
    type: Literal["http", "tcp"] = "http"
    interval_seconds: Seconds = 5
    timeout_seconds: Seconds = 2
    retries: Annotated[int, Meta(ge=1, le=MAX_RETRIES)] = 3
    start_period_seconds: Annotated[int, Meta(ge=0, le=MAX_SECONDS)] = 0
    port: Port | None = None  # a TCP check's port (an HTTP check's is under `http`)
    http: HttpCheck | None = None

    def policy(self) -> dict[str, Any]:
        http = self.http or HttpCheck()
        return {"enabled": self.enabled, "type": self.type, "path": http.path,
                "port": http.port if self.type == "http" else self.port,
                "expected_status": http.expected_status_code,
                "interval_seconds": self.interval_seconds,
                "timeout_seconds": self.timeout_seconds, "retries": self.retries,
                "start_period_seconds": self.start_period_seconds}


class ConfigureHealthPolicy(AppaloftBody):
    """Body of POST /resources/{id}/health-policy."""

    health_check: HealthCheck


class RollbackPolicy(AppaloftBody):
    automatic: bool


class ConfigureRollbackPolicy(AppaloftBody):
    """Body of POST /resources/{id}/rollback-policy (ours: the seed names no such setting)."""

    rollback_policy: RollbackPolicy


class CreateSecret(AppaloftBody):
    """Body of POST /resources/{id}/secrets (the value is never echoed)."""

    key: VariableKey
    value: VariableValue
    exposure: Exposure = "runtime"


class RotateSecret(AppaloftBody):
    """Body of POST /resources/{id}/secrets/{key}."""

    value: VariableValue
    exposure: Exposure = "runtime"


class ImportVariables(AppaloftBody):
    """Body of POST /resources/{id}/variables/import: pasted .env content."""

    content: Annotated[str, Meta(max_length=MAX_CONTENT)]
    exposure: Exposure = "runtime"


@dataclass(frozen=True)
class ImportedVariable:
    """One entry an import set: a secret's value is not kept here (it left sealed)."""

    key: str
    value: str | None  # None for a secret
    is_secret: bool
    action: ImportAction
    line: int


@dataclass(frozen=True)
class VariablesImported:
    entries: list[ImportedVariable]
    duplicates: list[Duplicate]


class ResourceConfirmation(AppaloftBody):
    resource_slug: Annotated[str, Meta(min_length=1, max_length=63)]


class DeleteResource(AppaloftBody):
    """Body of DELETE /resources/{id}: confirmed by the slug, as Appaloft does."""

    confirmation: ResourceConfirmation


def resource_claim_id(environment_id: UUID, slug: str) -> UUID:
    return NameClaim.id_for("resource", str(environment_id), slug)


def mutable_resource(uow: UnitOfWork, resource_id: UUID) -> Resource:
    """The live resource, its environment open and unlocked."""
    resource = uow.get(Resource, resource_id, f"resource {resource_id}")
    live_environment(uow, resource.environment_id).check_mutable()
    return resource


def snapshot_for_deployment(uow: UnitOfWork, resource_id: UUID) -> ResourceSnapshot:
    """What a deployment of this resource runs, taken inside the deployment's decision; a
    locked environment refuses it like any other change, and an archived project too (the
    plan said project-archived while the deployment went ahead)."""
    resource = uow.get(Resource, resource_id, f"resource {resource_id}")
    live_project(uow, resource.project_id).check_mutable()
    environment = live_environment(uow, resource.environment_id)
    environment.check_mutable()
    return resource.snapshot(environment.variables, uow.now)


def settle_attempt(uow: UnitOfWork, deployment: Deployment) -> UUID | None:
    """Called in every decision that moves a Deployment: when it is a Resource's attempt and
    has just ended, the Resource records the outcome in the same transaction. Returns the
    deployment this one supersedes (the resource's previous healthy one, which kept serving
    until now and is to be stopped), or None."""
    own = deployment.spec.get("resource")
    status = attempt_of(deployment)
    if not isinstance(own, dict) or status not in TERMINAL:
        return None
    resource = uow.find(Resource, UUID(own["resource_id"]))
    if resource is None or resource.deleted:
        return None
    if deployment.status in (Status.ERROR.value, Status.TERMINATED.value):
        resource.fail_runtime_control(deployment.id, "runtime-ended", uow.now)
    previous = resource.serving_deployment
    if not resource.settle_deployment(deployment.id, status.value, uow.now):
        return None
    if status in HEALTHY and previous is not None and previous != deployment.id:
        return previous
    return None


class Resources:
    """Application service for resources."""

    def __init__(self, writes: WritePath, box: SecretBox) -> None:
        self.writes, self.box = writes, box

    def create(self, cmd: CreateResource) -> UUID:
        def decide(uow: UnitOfWork) -> UUID:
            project = live_project(uow, cmd.project_id)
            project.check_mutable()
            environment = live_environment(uow, cmd.environment_id)
            if environment.project_id != cmd.project_id:
                raise InvalidValueError("belongs to another project", "environmentId")
            environment.check_mutable()
            resource = Resource.create(uuid4(), cmd.project_id, cmd.environment_id, cmd.name,
                                       uow.now, cmd.kind, cmd.description)
            # Written, not only read: an archive or delete of the project committed since
            # this read makes the save conflict, and the create is decided again.
            project.add_resource(resource.id, uow.now)
            return add_named(uow, resource, resource_claim_id(cmd.environment_id, resource.slug),
                             f"resource slug {resource.slug}")

        return self.writes.run(decide)

    def configure_source(self, resource_id: UUID, cmd: ConfigureSource) -> UUID:
        source = cmd.source
        if source.kind != IMAGE_SOURCE:
            raise NotSupportedError(
                f"a {source.kind} source needs a build, and nothing is built here: configure a"
                f" container image (kind {IMAGE_SOURCE})", "builds")
        for name, value in (("baseDirectory", source.base_directory),
                            ("metadata", source.metadata)):
            if value is not None:
                raise InvalidValueError("an image source has none (nothing is kept of it)",
                                        f"source.{name}")
        return self._change(resource_id,
                            lambda r, now: r.configure_source(source.locator, now))

    def configure_runtime(self, resource_id: UUID, cmd: ConfigureRuntimeProfile) -> UUID:
        profile = cmd.runtime_profile
        return self._change(resource_id, lambda r, now: r.configure_runtime(
            profile.command, list(profile.args), now))

    def configure_network(self, resource_id: UUID, cmd: ConfigureNetworkProfile) -> UUID:
        profile = cmd.network_profile
        return self._change(resource_id, lambda r, now: r.configure_network(
            profile.internal_port, profile.protocol, now))

    def configure_health(self, resource_id: UUID, cmd: ConfigureHealthPolicy) -> UUID:
        policy = cmd.health_check.policy()
        return self._change(resource_id, lambda r, now: r.configure_health(policy, now))

    def reset_health(self, resource_id: UUID) -> UUID:
        return self._change(resource_id, lambda r, now: r.reset_health(now))

    def configure_rollback(self, resource_id: UUID, cmd: ConfigureRollbackPolicy) -> UUID:
        automatic = cmd.rollback_policy.automatic
        return self._change(resource_id, lambda r, now: r.configure_rollback(automatic, now))

    def set_variable(self, resource_id: UUID, cmd: SetVariable) -> UUID:
        value, sealed = sealed_or_plain(self.box, cmd)
        return self._change(resource_id, lambda r, now: r.set_variable(
            cmd.key, cmd.exposure, value, sealed, now))

    def unset_variable(self, resource_id: UUID, key: str, cmd: UnsetVariable) -> UUID:
        return self._change(resource_id,
                            lambda r, now: r.unset_variable(key, cmd.exposure, now))

    def create_secret(self, resource_id: UUID, cmd: CreateSecret) -> UUID:
        sealed = self.box.seal(cmd.value.encode())
        return self._change(resource_id, lambda r, now: r.create_secret(
            cmd.key, cmd.exposure, sealed, now))

    def rotate_secret(self, resource_id: UUID, key: str, cmd: RotateSecret) -> UUID:
        sealed = self.box.seal(cmd.value.encode())
        return self._change(resource_id, lambda r, now: r.rotate_secret(
            key, cmd.exposure, sealed, now))

    def import_variables(self, resource_id: UUID, cmd: ImportVariables) -> VariablesImported:
        """The content's lines set on the resource in one decision (all or none); values that
        look secret (domain/dotenv.py) are sealed here, before anything records them."""
        lines, duplicates = parse_dotenv(cmd.content)
        secret = [looks_secret(line.key, line.value) for line in lines]
        entries = [(line.key, None, self.box.seal(line.value.encode())) if hidden
                   else (line.key, line.value, None) for line, hidden in zip(lines, secret,
                                                                              strict=True)]

        def decide(uow: UnitOfWork) -> list[ImportAction]:
            return mutable_resource(uow, resource_id).import_variables(
                entries, cmd.exposure, uow.now)

        actions = self.writes.run(decide)
        return VariablesImported(
            entries=[ImportedVariable(line.key, None if hidden else line.value, hidden, action,
                                      line.line)
                     for line, hidden, action in zip(lines, secret, actions, strict=True)],
            duplicates=duplicates)

    def delete_secret(self, resource_id: UUID, key: str, cmd: UnsetVariable) -> UUID:
        return self._change(resource_id,
                            lambda r, now: r.delete_secret(key, cmd.exposure, now))

    def archive(self, resource_id: UUID) -> UUID:
        return self._change(resource_id, lambda r, now: r.archive(now))

    def delete(self, resource_id: UUID, cmd: DeleteResource) -> UUID:
        """Refused while an attempt runs (ResourceBusyError names it); the container still
        serving stops in the same transaction (nothing runs that no resource accounts for),
        and the slug is freed."""
        def decide(uow: UnitOfWork) -> None:
            resource = uow.get(Resource, resource_id, f"resource {resource_id}")
            # Cleaning up: allowed in an archived environment, whose containers would run on
            # for good otherwise, and in a deleted project (a resource created while it was
            # deleted, before projects recorded theirs, is left there); not in a locked one.
            environment = uow.find(Environment, resource.environment_id)
            if environment is not None:
                environment.check_unlocked()
            resource.delete_confirmed(cmd.confirmation.resource_slug, uow.now)
            release_name(uow, resource_claim_id(resource.environment_id, resource.slug),
                         resource.id)
            serving = None if resource.serving_deployment is None else uow.find(
                Deployment, resource.serving_deployment)
            if serving is None or serving.status != Status.READY.value or serving.stopping:
                return
            serving.stop(f"resource {resource.slug} deleted", uow.now)
            uow.ring([serving.node_id])

        self.writes.run(decide)
        return resource_id


    def _change(self, resource_id: UUID, act: Callable[[Resource, datetime], object]) -> UUID:
        return self.writes.change(mutable_resource, resource_id, act)
