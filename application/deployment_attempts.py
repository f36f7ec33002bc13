"""Deployments of Resources (Appaloft's /deployments commands): create, redeploy, retry,
rollback, cancel and archive, on the one Deployment machinery (placement, agent work, reports).

Each command decides the spec inside the placement's own transaction: the Resource's snapshot
(or an earlier attempt's, for retry and rollback, re-run exactly) and `begin_deployment`, so
two attempts of one resource never run at once. What ends an attempt is settled on the Resource
by Deployments (application/resources.py: settle_attempt), and the previous healthy attempt is
stopped only when the new one is healthy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta

from application.deployments import Accepted, Deployments
from application.errors import NotFoundError
from application.projects import AppaloftBody
from application.resources import snapshot_for_deployment
from application.write_path import UnitOfWork
from domain.deployment import Deployment, deployment_uuid
from domain.deployment_attempt import (
    AttemptStatus,
    attempt_of,
    check_archivable,
    check_cancelable,
    check_retryable,
    check_rollback_candidate,
)
from domain.node import Node
from domain.placement import Candidate
from domain.resource import Resource
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import InvalidValueError


class CreateDeployment(AppaloftBody):
    """Body of POST /deployments: the explicit context Appaloft asks for. `serverId` is an edge
    node's id; omitted, any healthy node with room is chosen."""

    project_id: UUID
    environment_id: UUID
    resource_id: UUID
    server_id: UUID | None = None
    destination_id: Annotated[str, Meta(max_length=200)] | None = None


class RollbackDeployment(AppaloftBody):
    """Body of POST /deployments/{deploymentId}/rollback."""

    rollback_candidate_deployment_id: UUID


class ConfirmedBody(AppaloftBody):
    """A body that repeats the deployment id, to confirm the command is meant for it."""

    confirm: Annotated[str, Meta(min_length=1, max_length=64)]

    def check(self, deployment_id: UUID) -> None:
        if self.confirm != str(deployment_id):
            raise InvalidValueError("must equal the deployment id", "confirm")


class CancelDeployment(ConfirmedBody):
    """Body of POST /deployments/{deploymentId}/cancel: the deployment id again, to confirm."""


class ArchiveDeployment(ConfirmedBody):
    """Body of POST /deployments/{deploymentId}/archive: the deployment id again, to confirm."""


def _on(server_id: UUID | None) -> Callable[[Candidate], bool] | None:
    if server_id is None:
        return None
    wanted = str(server_id)
    return lambda candidate: candidate.host_id == wanted


class DeploymentAttempts:
    """Application service for the attempts of resources."""

    def __init__(self, deployments: Deployments) -> None:
        self.deployments = deployments

    def create(self, cmd: CreateDeployment) -> Accepted:
        def today(uow: UnitOfWork, resource: Resource) -> dict[str, Any]:
            if (resource.project_id, resource.environment_id) != (cmd.project_id,
                                                                  cmd.environment_id):
                raise InvalidValueError("the resource is not in this project and environment",
                                        "resourceId")
            return snapshot_for_deployment(uow, resource.id).as_spec()

        return self._attempt(cmd.resource_id, "create", None, today, cmd.server_id)

    def redeploy(self, resource_id: UUID, server_id: UUID | None = None) -> Accepted:
        """The resource as it is now, again."""
        def today(uow: UnitOfWork, resource: Resource) -> dict[str, Any]:
            return snapshot_for_deployment(uow, resource.id).as_spec()

        return self._attempt(resource_id, "redeploy", None, today, server_id)

    def retry(self, deployment_id: UUID) -> Accepted:
        """A failed or canceled attempt's own snapshot, once more, on any node."""
        failed = self._load(deployment_id)

        def again(uow: UnitOfWork, resource: Resource) -> dict[str, Any]:
            snapshot_for_deployment(uow, resource.id)  # the environment and resource allow it
            return _earlier(uow, deployment_id, resource, check_retryable, "deploymentId")

        return self._attempt(_resource_of(failed), "retry", deployment_id, again, None)

    def rollback(self, deployment_id: UUID, cmd: RollbackDeployment) -> Accepted:
        """Back to an earlier healthy attempt's snapshot, exactly as it ran."""
        candidate_id = cmd.rollback_candidate_deployment_id
        current = self._load(deployment_id)

        def back(uow: UnitOfWork, resource: Resource) -> dict[str, Any]:
            snapshot_for_deployment(uow, resource.id)
            spec = _earlier(uow, candidate_id, resource, check_rollback_candidate,
                            "rollbackCandidateDeploymentId")
            resource.check_rollback_candidate(candidate_id)  # still remembered as healthy
            return {**spec, "rollback_candidate_deployment_id": str(candidate_id)}

        return self._attempt(_resource_of(current), "rollback", deployment_id, back, None)

    def cancel(self, deployment_id: UUID, cmd: CancelDeployment) -> bool:
        """Stops an active attempt (True: at once; False: when its node has it)."""
        cmd.check(deployment_id)
        deployment = self._load(deployment_id)
        _resource_of(deployment)
        check_cancelable(attempt_of(deployment))
        return self.deployments.stop(deployment.request_id, "canceled")

    def archive(self, deployment_id: UUID, cmd: ArchiveDeployment) -> None:
        """Hides a terminal attempt from the lists (again: nothing changes)."""
        cmd.check(deployment_id)

        def decide(uow: UnitOfWork) -> None:
            deployment = uow.get(Deployment, deployment_id, f"deployment {deployment_id}")
            _resource_of(deployment)
            check_archivable(attempt_of(deployment))
            deployment.archive(uow.now)

        self.deployments.writes.run(decide)

    def _attempt(
        self, resource_id: UUID, trigger: str, source: UUID | None,
        spec_of: Callable[[UnitOfWork, Resource], dict[str, Any]], server_id: UUID | None,
    ) -> Accepted:
        def spec_for(uow: UnitOfWork, request_id: str) -> dict[str, Any]:
            resource = uow.get(Resource, resource_id, f"resource {resource_id}")
            spec = spec_of(uow, resource)
            if server_id is not None:
                # As the plan says server-not-found: nothing recorded (it was a failed attempt
                # "Couldn't Allocate Server").
                server = uow.find(Node, server_id)
                if server is None or server.deleted:
                    raise NotFoundError(f"server {server_id} not found", "serverId")
            resource.begin_deployment(deployment_uuid(request_id), trigger, uow.now)
            return {**spec, "trigger": trigger,
                    "source_deployment_id": None if source is None else str(source)}

        return self.deployments.deploy_with(spec_for, [], _on(server_id), (resource_id,))

    def _load(self, deployment_id: UUID) -> Deployment:
        def read(uow: UnitOfWork) -> Deployment:
            return uow.get(Deployment, deployment_id, f"deployment {deployment_id}")

        return self.deployments.writes.run(read)


def _resource_of(deployment: Deployment) -> UUID:
    if not isinstance(deployment.spec.get("resource"), dict):
        raise InvalidValueError("not a deployment of a resource", "deploymentId")
    return ResourceSnapshot.from_spec(deployment.spec).resource_id


def _earlier(uow: UnitOfWork, deployment_id: UUID, resource: Resource,
             rule: Callable[[AttemptStatus], object], field: str) -> dict[str, Any]:
    """The snapshot an earlier attempt of this resource ran, checked by `rule` in this
    decision (retry and rollback run it exactly, not the resource as it is today)."""
    earlier = uow.get(Deployment, deployment_id, f"deployment {deployment_id}")
    if _resource_of(earlier) != resource.id:
        raise InvalidValueError("an attempt of another resource", field)
    rule(attempt_of(earlier))
    return ResourceSnapshot.from_spec(earlier.spec).as_spec()
