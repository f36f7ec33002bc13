"""Deployments of resources on the in-memory store, with the agent's reports played by hand:
one attempt at a time, the previous healthy one serving until the new one is healthy, retry
and rollback re-running an earlier snapshot exactly, cancel, and the Resource settled in the
transaction of the report that ends each attempt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import msgspec
import pytest

from application.agent_protocol import ContainerSpec, DeploymentReport, EnrollNode, HealthCheck
from application.clusters import CreateCluster
from application.deployment_attempts import (
    CancelDeployment,
    CreateDeployment,
    DeploymentAttempts,
    RollbackDeployment,
)
from application.enrollment_keys import IssueEnrollmentKey
from application.environments import (
    CreateEnvironment,
    Environments,
    LockEnvironment,
    SetVariable,
)
from application.hosts import UpdateHost
from application.projects import CreateProject, Projects
from application.resources import (
    ConfigureHealthPolicy,
    ConfigureNetworkProfile,
    ConfigureSource,
    CreateResource,
    CreateSecret,
    DeleteResource,
    Resources,
)
from domain.deployment import Deployment, Status, deployment_uuid
from domain.deployment_attempt import (
    AttemptNotRetryableError,
    AttemptStatus,
    NotRollbackCandidateError,
    attempt_of,
)
from domain.environment import EnvironmentLockedError
from domain.resource import Resource
from domain.resource_attempts import ResourceBusyError
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings


@pytest.fixture
def services() -> Iterator[Services]:
    services = build_services(make_settings("memory://", placement_snapshot=0))
    services.start()
    yield services
    services.close()


class Flow:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.projects = Projects(services.writes, services.resource_reads)
        self.environments = Environments(services.writes, services.box)
        self.resources = Resources(services.writes, services.box)
        self.attempts = DeploymentAttempts(services.deployments)
        self.project = self.projects.create(CreateProject(name="Shop"))
        self.environment = self.environments.create(CreateEnvironment(
            project_id=self.project, name="production"))
        self.resource = self.resources.create(CreateResource(
            project_id=self.project, environment_id=self.environment, name="web"))
        self.configure("busybox:1.36")
        self.resources.configure_network(self.resource, msgspec.convert(
            {"networkProfile": {"internalPort": 8080}}, ConfigureNetworkProfile))

    def configure(self, image: str) -> None:
        self.resources.configure_source(self.resource, msgspec.convert(
            {"source": {"locator": image}}, ConfigureSource))

    def node(self) -> UUID:
        self.services.clusters.create(CreateCluster(name="edge"))
        key_id = self.services.enrollment_keys.issue("edge", IssueEnrollmentKey())
        blob = self.services.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
        node = self.services.nodes.enroll(EnrollNode(enrollment_key=blob)).node_id
        self.services.hosts.update(node, msgspec.convert(
            {"cpu_units": 4096, "memory_mb": 4096}, UpdateHost))
        return node

    def create(self) -> UUID:
        accepted = self.attempts.create(CreateDeployment(
            project_id=self.project, environment_id=self.environment, resource_id=self.resource))
        return deployment_uuid(accepted.request_id)

    def load(self, aggregate_id: UUID) -> Any:
        return self.services.store.repository.get(aggregate_id)

    def status(self, deployment_id: UUID) -> AttemptStatus:
        return attempt_of(self.load(deployment_id))

    def report(self, node: UUID, deployment_id: UUID, state: str) -> None:
        request_id = self.load(deployment_id).request_id
        detail = "health check failed: 503" if state == "error" else ""
        self.services.deployments.report(node, request_id, msgspec.convert(
            {"state": state, "detail": detail}, DeploymentReport))

    def resource_state(self) -> Resource:
        resource: Resource = self.load(self.resource)
        return resource


def test_with_no_room_the_attempt_fails_and_the_resource_is_free_again(
        services: Services) -> None:
    flow = Flow(services)
    first = flow.create()
    assert flow.status(first) == AttemptStatus.FAILED
    resource = flow.resource_state()
    assert (resource.active_deployment, resource.last_deployment_status) == (None, "failed")
    flow.create()  # not busy: the failed attempt was settled in its own decision


def test_deploy_redeploy_fail_keeps_serving_and_rollback_returns_exactly(
        services: Services) -> None:
    flow = Flow(services)
    node = flow.node()
    flow.resources.create_secret(flow.resource, CreateSecret(key="TOKEN", value="s3cret-v1"))
    first = flow.create()
    assert flow.status(first) == AttemptStatus.RUNNING
    with pytest.raises(ResourceBusyError) as busy:
        flow.create()
    assert busy.value.blockers == [first]
    flow.report(node, first, "ready")
    assert flow.status(first) == AttemptStatus.SUCCEEDED
    assert flow.resource_state().serving_deployment == first

    flow.configure("busybox:broken")
    second = deployment_uuid(flow.attempts.redeploy(flow.resource).request_id)
    flow.report(node, second, "error")
    assert flow.status(second) == AttemptStatus.FAILED
    assert flow.load(first).status == Status.READY.value, "the first keeps serving"
    assert flow.resource_state().serving_deployment == first

    with pytest.raises(NotRollbackCandidateError):
        flow.attempts.rollback(first, RollbackDeployment(rollback_candidate_deployment_id=second))
    third = deployment_uuid(flow.attempts.rollback(second, RollbackDeployment(
        rollback_candidate_deployment_id=first)).request_id)
    spec = flow.load(third).spec
    assert ResourceSnapshot.from_spec(spec) == ResourceSnapshot.from_spec(flow.load(first).spec)
    assert (spec["image"], spec["trigger"], spec["source_deployment_id"]) == (
        "busybox:1.36", "rollback", str(second))
    flow.report(node, third, "ready")
    assert flow.status(third) == AttemptStatus.ROLLED_BACK
    superseded: Deployment = flow.load(first)
    assert superseded.stopping is not None, "the first stops once the third is healthy"
    assert flow.status(first) == AttemptStatus.SUCCEEDED
    resource = flow.resource_state()
    assert (resource.serving_deployment, resource.healthy_deployments) == (third, [first, third])
    assert resource.deployment_count == 3


def test_retry_reruns_a_failed_snapshot_and_cancel_ends_it_canceled(services: Services) -> None:
    flow = Flow(services)
    node = flow.node()
    flow.environments.set_variable(flow.environment, SetVariable(key="MODE", value="one"))
    failed = flow.create()
    flow.report(node, failed, "error")
    flow.environments.set_variable(flow.environment, SetVariable(key="MODE", value="two"))
    retried = deployment_uuid(flow.attempts.retry(failed).request_id)
    env = {v["key"]: v["value"] for v in flow.load(retried).spec["env"]}
    assert env == {"MODE": "one"}, "a retry runs the failed attempt's snapshot"
    with pytest.raises(InvalidValueError):
        flow.attempts.cancel(retried, CancelDeployment(confirm="not-the-id"))
    assert flow.attempts.cancel(retried, CancelDeployment(confirm=str(retried))) is False
    assert flow.status(retried) == AttemptStatus.CANCEL_REQUESTED
    flow.report(node, retried, "ready")  # it came up before the stop reached the node
    assert flow.status(retried) == AttemptStatus.CANCEL_REQUESTED
    flow.report(node, retried, "terminated")
    assert flow.status(retried) == AttemptStatus.CANCELED
    assert flow.resource_state().last_deployment_status == "canceled"
    ok = flow.create()
    flow.report(node, ok, "ready")
    with pytest.raises(AttemptNotRetryableError):
        flow.attempts.retry(ok)


def test_a_locked_environment_refuses_new_attempts(services: Services) -> None:
    flow = Flow(services)
    flow.environments.lock(flow.environment, LockEnvironment())
    with pytest.raises(EnvironmentLockedError):
        flow.create()
    with pytest.raises(InvalidValueError):
        flow.attempts.create(CreateDeployment(project_id=flow.project,
                                              environment_id=flow.project,
                                              resource_id=flow.resource))


def test_deleting_a_resource_stops_the_container_it_was_serving(services: Services) -> None:
    flow = Flow(services)
    node = flow.node()
    serving = flow.create()
    flow.report(node, serving, "ready")
    flow.resources.delete(flow.resource, msgspec.convert(
        {"confirmation": {"resourceSlug": "web"}}, DeleteResource))
    stopped: Deployment = flow.load(serving)
    assert stopped.stopping == "resource web deleted"
    request_id = stopped.request_id
    assert services.deployments.work_for(node, [request_id])["stop_deployments"] == [request_id]
    flow.report(node, serving, "terminated")
    assert flow.load(serving).status == Status.TERMINATED.value


def test_the_work_answer_carries_the_resource_health_policy_in_the_agents_names(
        services: Services) -> None:
    flow = Flow(services)
    node = flow.node()
    first = flow.create()  # the default policy is off: ready as soon as it runs
    assert [s["health"] for s in services.deployments.work_for(node, [])["deployments"]] == [None]
    flow.report(node, first, "ready")
    held = [flow.load(first).request_id]

    flow.resources.configure_health(flow.resource, msgspec.convert({"healthCheck": {
        "http": {"path": "/healthz", "expectedStatusCode": 204}, "intervalSeconds": 1,
        "retries": 5, "startPeriodSeconds": 3}}, ConfigureHealthPolicy))
    second = flow.create()
    handed = services.deployments.work_for(node, held)["deployments"]
    assert msgspec.convert(handed, list[ContainerSpec])[0].health == HealthCheck(
        type="http", port=8080, path="/healthz", expected_status=204, interval_seconds=1,
        timeout_seconds=2, retries=5, start_period_seconds=3)  # the port it serves on
    flow.report(node, second, "ready")
    held.append(flow.load(second).request_id)

    flow.resources.configure_health(flow.resource, msgspec.convert({"healthCheck": {
        "type": "tcp", "port": 9000, "timeoutSeconds": 7}}, ConfigureHealthPolicy))
    flow.create()
    handed = services.deployments.work_for(node, held)["deployments"]
    assert msgspec.convert(handed, list[ContainerSpec])[0].health == HealthCheck(
        type="tcp", port=9000, timeout_seconds=7)
