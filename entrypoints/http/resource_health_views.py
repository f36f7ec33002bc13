"""The shapes of Appaloft's resource health reads (`resources.health/v1`, `.health-history/v1`)
and what they are built from: the resource's current deployment (`Current`) and the agent's
observations, with the latest runtime control. The seed's publicAccess and proxy are null here
(no proxy, no access routes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from application.agent_protocol import HEALTH_HEARTBEAT_SECONDS
from domain.resource_health import Facts, Health, Observed, derive
from entrypoints.http import runtime_control_views
from entrypoints.http.appaloft_views import AppaloftShape, found
from entrypoints.http.attempt_views import LatestDeployment, latest_fields
from entrypoints.http.runtime_control_views import RuntimeControlAttemptResponse
from entrypoints.http.serializers import Moment, described
from projections.deployment_reads import DeploymentReads
from projections.deployment_tables import DeploymentRecord
from projections.resource_health_reads import Observation, ResourceHealthReads
from projections.resource_reads import ResourceReads
from projections.resource_tables import AttemptRecord, ResourceRecord
from projections.runtime_controls import RuntimeControlRecord

_d = described
OverallStatus = Literal["healthy", "unhealthy", "unknown", "not-deployed", "stopped"]


class ResourceHealthLastError(AppaloftShape):
    timestamp: Moment | None
    phase: Annotated[str, _d("health (its check failed) or start")]
    message: str


class ResourceHealthDeployment(LatestDeployment):
    """The resource's latest deployment (attempt), whatever its status, with its last error"""

    last_error: ResourceHealthLastError | None


class ResourceRuntime(AppaloftShape):
    """The current deployment's container, as its agent last reported it"""

    lifecycle: Annotated[Literal["not-deployed", "running", "exited", "stopped"], _d(
        "not-deployed: no deployment became healthy yet")]
    health: Literal["healthy", "unhealthy", "unknown"]
    observed_at: Annotated[Moment | None, _d("When the agent said so (the admin's clock)")]
    runtime_kind: Literal["docker-container"]
    reason_code: Annotated[str, _d("health-check-passed, health-check-failed,"
                                   " health-report-stale, ready-report, runtime-exited, ...")]
    message: str


class ResourceHealthPolicySummary(AppaloftShape):
    """The health policy the current deployment runs (the resource's when none does)"""

    status: Literal["configured", "disabled"]
    enabled: bool
    type: str
    path: str
    port: int | None
    expected_status_code: int
    interval_seconds: int
    timeout_seconds: int
    retries: int
    start_period_seconds: int
    reason_code: str | None


class ResourceHealthCheck(AppaloftShape):
    """One check the agent ran"""

    name: str
    target: Literal["runtime"]
    status: Literal["passed", "failed", "unknown"]
    observed_at: Moment
    duration_ms: int | None
    status_code: int | None
    exit_code: int | None
    message: str
    reason_code: str
    phase: Annotated[str, _d("change, heartbeat, probe (live) or exit: why it was sent")]
    retriable: bool
    metadata: dict[str, str]


class SourceError(AppaloftShape):
    """A source the answer could not use, and why"""

    source: Literal["runtime", "deployment"]
    code: Annotated[str, _d("live-probe-timeout or no-running-deployment")]
    category: str
    phase: str
    retriable: bool
    related_entity_id: UUID | None
    related_state: str | None
    message: str


class ResourceHealthResponse(AppaloftShape):
    """A resource's current health"""

    schema_version: Literal["resources.health/v1"]
    resource_id: UUID
    generated_at: Moment
    observed_at: Moment | None
    overall: Annotated[OverallStatus, _d("Derived from runtime: see the README")]
    latest_deployment: ResourceHealthDeployment | None
    runtime: ResourceRuntime
    latest_runtime_control: RuntimeControlAttemptResponse | None
    health_policy: ResourceHealthPolicySummary
    public_access: None
    proxy: None
    checks: Annotated[list[ResourceHealthCheck], _d("Empty unless includeChecks=true")]
    source_errors: list[SourceError]


class HistoryObservation(AppaloftShape):
    observation_id: UUID
    observed_at: Moment
    overall: OverallStatus
    runtime_lifecycle: str
    runtime_health: str
    public_access_status: None
    proxy_status: None
    health_policy_status: Literal["configured", "disabled"]
    latest_deployment_id: Annotated[UUID, _d("The deployment observed")]
    summary: ResourceHealthResponse


class ResourceHealthHistoryResponse(AppaloftShape):
    """Retained observations in a window, oldest first"""

    schema_version: Literal["resources.health-history/v1"]
    resource_id: UUID
    from_: Moment = msgspec.field(name="from")
    to: Moment
    generated_at: Moment
    observations: list[HistoryObservation]
    source_errors: list[SourceError]


SHAPES = (ResourceHealthResponse, ResourceHealthHistoryResponse)


@dataclass(frozen=True)
class Current:
    """The resource, its latest attempt, the attempt now serving and its Deployment, and the
    agent's latest observation of that one."""

    resource_id: UUID
    resource: ResourceRecord
    last: AttemptRecord | None
    serving: AttemptRecord | None
    deployment: DeploymentRecord | None
    observed: Observation | None
    control: RuntimeControlRecord | None  # the latest runtime stop/start/restart

    def policy(self) -> dict[str, Any]:
        if self.serving is not None:
            health = json.loads(self.serving.snapshot).get("health")
            if isinstance(health, dict):
                return health
        return dict(json.loads(self.resource.health))

    def probe_target(self) -> tuple[str, UUID] | None:
        """(request_id, node id) of the serving deployment while it runs, else None."""
        deployment = self.deployment
        if deployment is None or deployment.status != "Status.READY" or deployment.stopping \
                or deployment.node_id is None:
            return None
        return deployment.request_id, deployment.node_id

    def state(self) -> str:
        return "not-deployed" if self.deployment is None else self.deployment.status

    def with_observation(self, observed: Observation) -> Current:
        return replace(self, observed=observed)

    def health(self, now: datetime) -> Health:
        if self.serving is None or self.deployment is None:
            return derive(None, now)
        policy = self.policy()
        obs = self.observed
        return derive(Facts(
            deployment_status=self.deployment.status, ready_at=self.deployment.ready_at,
            checked=bool(policy.get("enabled")), stopping=bool(self.deployment.stopping),
            observed=None if obs is None else Observed(obs.observed_at, obs.lifecycle,
                                                       obs.health, obs.message),
            heartbeat_seconds=max(HEALTH_HEARTBEAT_SECONDS,
                                  float(policy.get("interval_seconds") or 0)),
            runtime_state=self.runtime_state()), now)

    def runtime_state(self) -> str:
        """The serving deployment's container as the latest runtime control left it."""
        control, serving = self.control, self.serving
        if control is None or serving is None or control.deployment_id != serving.id:
            return "running"
        return control.runtime_state


def current_of(reads: ResourceReads, deployments: DeploymentReads,
               observations: ResourceHealthReads, resource_id: UUID) -> Current:
    resource = found(reads.resources.get(resource_id), "resource", resource_id)
    last = None if resource.last_deployment_id is None else reads.attempts.get(
        resource.last_deployment_id)
    serving = None if resource.serving_deployment_id is None else reads.attempts.get(
        resource.serving_deployment_id)
    deployment = None if serving is None else deployments.deployment(serving.request_id)
    observed = None if serving is None else observations.latest_of(serving.id)
    return Current(resource_id, resource, last, serving, deployment, observed,
                   reads.latest_runtime_control(resource_id))


def summary(current: Current, now: datetime, include_checks: bool,
            errors: list[SourceError], health: Health | None = None
            ) -> ResourceHealthResponse:
    health = health or current.health(now)
    obs = current.observed
    return ResourceHealthResponse(
        schema_version="resources.health/v1", resource_id=current.resource_id,
        generated_at=now, observed_at=health.observed_at, overall=health.overall,
        latest_deployment=_deployment(current.last),
        runtime=ResourceRuntime(lifecycle=health.lifecycle, health=health.health,
                                observed_at=health.observed_at,
                                runtime_kind="docker-container",
                                reason_code=health.reason_code, message=health.message),
        latest_runtime_control=None if current.control is None else runtime_control_views.shape(
            current.control),
        health_policy=_policy(current.policy()),
        public_access=None, proxy=None,
        checks=[_check(obs, current.policy(), health)] if include_checks and obs else [],
        source_errors=errors)


def observation_item(current: Current, row: Observation, attempt: AttemptRecord | None,
                     now: datetime) -> HistoryObservation:
    """A history row: what the observation said then (of `attempt`, the deployment observed),
    with the summary as of it."""
    then = replace(current, last=attempt, serving=attempt, observed=row, deployment=None)
    health = derive(Facts(
        deployment_status="Status.READY", ready_at=None,
        checked=bool(then.policy().get("enabled")), stopping=False,
        observed=Observed(row.observed_at, row.lifecycle, row.health, row.message),
        heartbeat_seconds=HEALTH_HEARTBEAT_SECONDS), row.observed_at)
    shown = summary(then, now, True, [], health)
    return HistoryObservation(
        observation_id=row.id, observed_at=row.observed_at, overall=health.overall,
        runtime_lifecycle=health.lifecycle, runtime_health=health.health,
        public_access_status=None, proxy_status=None,
        health_policy_status=shown.health_policy.status, latest_deployment_id=row.deployment_id,
        summary=shown)


def _deployment(attempt: AttemptRecord | None) -> ResourceHealthDeployment | None:
    if attempt is None:
        return None
    error = None
    if attempt.error_detail:
        phase = "health" if attempt.error_detail.startswith("health check failed") else "start"
        error = ResourceHealthLastError(timestamp=attempt.failed_at or attempt.finished_at,
                                        phase=phase, message=attempt.error_detail)
    return ResourceHealthDeployment(**latest_fields(attempt), last_error=error)


def _policy(policy: dict[str, Any]) -> ResourceHealthPolicySummary:
    enabled = bool(policy.get("enabled"))
    return ResourceHealthPolicySummary(
        status="configured" if enabled else "disabled", enabled=enabled,
        type=str(policy.get("type", "http")), path=str(policy.get("path", "/")),
        port=policy.get("port"), expected_status_code=int(policy.get("expected_status", 200)),
        interval_seconds=int(policy.get("interval_seconds", 0)),
        timeout_seconds=int(policy.get("timeout_seconds", 0)),
        retries=int(policy.get("retries", 0)),
        start_period_seconds=int(policy.get("start_period_seconds", 0)),
        reason_code=None if enabled else "health-policy-disabled")


def _check(obs: Observation, policy: dict[str, Any], health: Health) -> ResourceHealthCheck:
    status: Literal["passed", "failed", "unknown"] = (
        "passed" if obs.health == "healthy" else "failed" if obs.health == "unhealthy"
        else "unknown")
    kind = str(policy.get("type", "http"))
    metadata = {"deploymentId": str(obs.deployment_id), "type": kind,
                "lifecycle": obs.lifecycle}
    if kind == "http":
        metadata["path"] = str(policy.get("path", "/"))
    return ResourceHealthCheck(
        name=f"{kind}-health-check", target="runtime", status=status,
        observed_at=obs.observed_at, duration_ms=obs.duration_ms, status_code=obs.status_code,
        exit_code=obs.exit_code, message=obs.message, reason_code=health.reason_code,
        phase=obs.kind, retriable=status != "passed", metadata=metadata)
