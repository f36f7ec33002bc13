"""The Appaloft view of one deployment attempt: its list item, its cancel answer and its show
(`deployments.show/v1`: status, related context, the masked snapshot it runs, the timeline of
the Deployment's events with their sequence numbers, the latest failure and a recovery
summary). Read from the attempt record; nothing here shows a secret, not even sealed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from domain.deployment_attempt import ACTIVE, AttemptStatus
from domain.shared import node_name, node_vpn_hostname
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import AppaloftShape, Query, found
from entrypoints.http.attempt_readiness import RecoveryReadinessResponse, readiness
from entrypoints.http.attempt_snapshot import (
    EnvironmentSnapshot,
    RuntimePlan,
    environment_snapshot,
    runtime_plan,
)
from entrypoints.http.serializers import Moment, described
from projections.resource_reads import log_count, timeline
from projections.resource_tables import AttemptRecord, ResourceRecord

_d = described
_Include = Annotated[bool, _d("Include this section (default true)")]


class DeploymentShowQuery(Query):
    include_timeline: _Include = True
    include_snapshot: _Include = True
    include_related_context: _Include = True
    include_latest_failure: _Include = True
    include_recovery_summary: _Include = True


class DeploymentAttemptResponse(AppaloftShape):
    """An attempt to deploy a resource"""

    id: Annotated[UUID, _d("Deployment id")]
    request_id: Annotated[str, _d("The Deployment's request id (12 hex), as Edgegap names it")]
    project_id: UUID
    environment_id: UUID
    resource_id: UUID
    server_id: Annotated[UUID | None, _d("The node it was placed on; null before placement")]
    destination_id: None
    status: Annotated[AttemptStatus, _d("Derived from the Deployment's events")]
    trigger_kind: Annotated[str, _d("create, redeploy, retry or rollback")]
    source_deployment_id: UUID | None
    rollback_candidate_deployment_id: UUID | None
    source_commit_sha: Annotated[None, _d("Images, not commits, are deployed here: null")]
    runtime_plan: RuntimePlan
    environment_snapshot: EnvironmentSnapshot
    dependency_binding_references: Annotated[list[str], _d(
        "Always empty: no dependency bindings here")]
    logs: Annotated[list[str], _d("Always empty: not embedded here; GET"
                                  " /deployments/{deploymentId}/logs has them")]
    log_count: Annotated[int, _d("How many lines GET /deployments/{deploymentId}/logs"
                                 " answers")]
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None
    archived_at: Annotated[Moment | None, _d(
        "When it was archived (POST /deployments/{deploymentId}/archive); null if it is not."
        " Lists leave archived attempts out unless includeArchived=true")]
    rollback_of_deployment_id: UUID | None


class LatestDeployment(AppaloftShape):
    """A resource's latest deployment (attempt), whatever its status"""

    id: UUID
    status: str
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None
    server_id: UUID | None
    destination_id: None


def in_focus(svc: Services, resource: ResourceRecord,
             requested: UUID | None) -> AttemptRecord | None:
    """The attempt a resource's runtime logs and diagnostics look at: `requested` (404 unless it
    is the resource's), else the serving one, else the latest; None when it has none."""
    chosen = requested or resource.serving_deployment_id or resource.last_deployment_id
    attempt = None if chosen is None else svc.resource_reads.attempts.get(chosen)
    if attempt is None or attempt.resource_id != resource.id:
        if requested is not None:
            found(None, "deployment", requested)
        return None
    return attempt


def latest_fields(attempt: AttemptRecord) -> dict[str, Any]:
    """LatestDeployment's fields, for it and for the shapes that extend it."""
    return {"id": attempt.id, "status": str(attempt.status), "created_at": attempt.created_at,
            "started_at": attempt.started_at, "finished_at": attempt.finished_at,
            "server_id": attempt.server_id, "destination_id": None}


class DeploymentAttemptListResponse(AppaloftShape):
    """Attempts, newest first"""

    items: list[DeploymentAttemptResponse]


class CancelResponse(AppaloftShape):
    """The cancel was accepted: canceled now, or cancel-requested until its node stops it"""

    id: UUID
    status: AttemptStatus
    canceled_at: Moment | None


class ArchiveResponse(AppaloftShape):
    """The attempt is archived (since archivedAt: archiving it again changes nothing)"""

    id: UUID
    archived_at: Moment


class TimelineEvent(AppaloftShape):
    sequence: Annotated[int, _d("Position in the Deployment's event stream, from 1")]
    event_type: Annotated[str, _d("Requested, Placed, Ready, Failed, StopDeferred,"
                                  " StopRequested or Terminated")]
    status: Annotated[AttemptStatus, _d("The attempt status right after it")]
    emitted_at: Moment


class Timeline(AppaloftShape):
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None
    log_count: Annotated[int, _d("As the deployment's logCount")]
    events: list[TimelineEvent]


class StatusView(AppaloftShape):
    current: AttemptStatus
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None
    rollback_of_deployment_id: UUID | None


class Snapshot(AppaloftShape):
    runtime_plan: RuntimePlan
    environment_snapshot: EnvironmentSnapshot
    dependency_bindings: Annotated[None, _d("No dependency bindings here: null")]


NextStep = Literal["logs", "cancel", "retry", "redeploy", "rollback"]
FailureSource = Literal["edge-admin", "edge-agent"]


def failure_source(attempt: AttemptRecord) -> FailureSource:
    """Who decided the failure: its node reporting it, or the admin (no room at placement, a
    start not reported in time, the node unreachable or deleted)."""
    return "edge-admin" if attempt.failure_reported is False else "edge-agent"


Phase = Literal["plan", "pull", "start", "health", "stop"]
PHASES = ("plan (requested, or failed before it was placed: no room), pull (placed: its node"
          " pulls the image), start, health (the health check passed or failed), stop")


def failure_phase(attempt: AttemptRecord) -> Phase:
    """Where a failed attempt failed; the same in its failure, its events and its logs. (An
    attempt fails only before it was healthy: one that crashes later stays succeeded.)"""
    if attempt.placed_at is None:
        return "plan"
    if (attempt.error_detail or "").startswith("health check"):
        return "health"
    return "start"


class Failure(AppaloftShape):
    timestamp: Moment
    source: Annotated[FailureSource, _d(
        "edge-agent: its node reported it (the container failed, its health check failed, it"
        " was lost); edge-admin: the admin decided it (no room at placement, a start not"
        " reported in time, the node unreachable or deleted)")]
    phase: Annotated[Phase, _d(PHASES)]
    level: Literal["error"]
    message: str


class RecoverySummary(AppaloftShape):
    source: Literal["deployments.recovery-readiness"]
    retryable: bool
    redeployable: bool
    rollback_ready: bool
    rollback_candidate_count: int
    blocked_reason_codes: list[str]


class DeploymentShowResponse(AppaloftShape):
    """One attempt with its status, context, masked snapshot and timeline"""

    schema_version: Literal["deployments.show/v1"]
    deployment: DeploymentAttemptResponse
    status: StatusView
    related_context: dict[str, Any] | None
    snapshot: Snapshot | None
    timeline: Timeline | None
    latest_failure: Failure | None
    recovery_summary: RecoverySummary | None
    next_actions: Annotated[list[NextStep], _d(
        "logs always; cancel while it is active; retry, redeploy and rollback when its recovery"
        " readiness allows them (ours beyond logs: the seed shows that one only)")]
    section_errors: list[str]
    generated_at: Moment


SHAPES = (DeploymentAttemptResponse, DeploymentAttemptListResponse, CancelResponse,
          ArchiveResponse, DeploymentShowResponse)


def check_of(health: dict[str, object]) -> str | None:
    """The health check an attempt's snapshot runs, as its log names it (None: none)."""
    if not health.get("enabled"):
        return None
    if health.get("type") == "http":
        return f"http {health.get('path')}"
    return str(health.get("type"))


def lines_of(attempt: AttemptRecord, snapshot: dict[str, Any] | None = None) -> int:
    """Its logCount: how many lines GET /deployments/{id}/logs answers, wherever it is shown
    (its list item, show, timeline, a diagnostic summary), whatever window a read asks for."""
    snapshot = json.loads(attempt.snapshot) if snapshot is None else snapshot
    return log_count(attempt, check_of(snapshot["health"]) is not None)


def shape(attempt: AttemptRecord) -> DeploymentAttemptResponse:
    snapshot = json.loads(attempt.snapshot)
    return DeploymentAttemptResponse(
        id=attempt.id, request_id=attempt.request_id, project_id=attempt.project_id,
        environment_id=attempt.environment_id, resource_id=attempt.resource_id,
        server_id=attempt.server_id, destination_id=None, status=attempt.status,
        trigger_kind=attempt.trigger_kind, source_deployment_id=attempt.source_deployment_id,
        rollback_candidate_deployment_id=attempt.rollback_candidate_id, source_commit_sha=None,
        runtime_plan=runtime_plan(attempt, snapshot),
        environment_snapshot=environment_snapshot(attempt, snapshot),
        dependency_binding_references=[], logs=[],
        log_count=lines_of(attempt, snapshot),
        created_at=attempt.created_at, started_at=attempt.started_at,
        finished_at=attempt.finished_at, archived_at=attempt.archived_at,
        rollback_of_deployment_id=attempt.source_deployment_id if attempt.is_rollback else None)


def _context(svc: Services, attempt: AttemptRecord) -> dict[str, Any]:
    reads = svc.resource_reads
    project = reads.projects.get(attempt.project_id)
    environment = reads.environments.get(attempt.environment_id)
    resource = reads.resources.get(attempt.resource_id)
    node = None if attempt.server_id is None else svc.fleet_reads.nodes.get(attempt.server_id)
    return {
        "project": None if project is None else {
            "id": project.id, "name": project.name, "slug": project.slug},
        "environment": None if environment is None else {
            "id": environment.id, "name": environment.name, "kind": environment.kind},
        "resource": None if resource is None else {
            "id": resource.id, "name": resource.name, "slug": resource.slug,
            "kind": resource.kind},
        "server": None if node is None else {
            "id": node.id, "name": node_name(node.id),
            "host": node_vpn_hostname(node.id, node.cluster_name), "port": node.ssh_port,
            "providerKey": "edge-agent"},
        "destination": None,
    }


def _next_steps(attempt: AttemptRecord, ready: RecoveryReadinessResponse) -> list[NextStep]:
    steps: list[NextStep] = ["logs"]
    if attempt.status in ACTIVE:
        steps.append("cancel")
    allowed: list[tuple[NextStep, bool]] = [
        ("retry", ready.retryable), ("redeploy", ready.redeployable),
        ("rollback", ready.rollback_ready)]
    return steps + [step for step, ok in allowed if ok]


def show(svc: Services, deployment_id: UUID, include: DeploymentShowQuery,
         now: datetime) -> DeploymentShowResponse:
    attempt = found(svc.resource_reads.attempts.get(deployment_id), "deployment", deployment_id)
    deployment = shape(attempt)
    events = [TimelineEvent(sequence=e.sequence, event_type=e.event_type, status=e.status,
                            emitted_at=e.at) for e in timeline(attempt)]
    failure = None
    if attempt.status == AttemptStatus.FAILED and attempt.failed_at is not None:
        failure = Failure(timestamp=attempt.failed_at, source=failure_source(attempt),
                          phase=failure_phase(attempt),
                          level="error", message=attempt.error_detail or "failed")
    ready = readiness(svc, attempt, now, 1)
    summary = RecoverySummary(
        source="deployments.recovery-readiness", retryable=ready.retryable,
        redeployable=ready.redeployable, rollback_ready=ready.rollback_ready,
        rollback_candidate_count=ready.rollback_candidate_count,
        blocked_reason_codes=sorted({r.code for r in [*ready.retry.reasons,
                                                      *ready.redeploy.reasons]}))

    return DeploymentShowResponse(
        schema_version="deployments.show/v1", deployment=deployment,
        status=StatusView(current=attempt.status, created_at=attempt.created_at,
                          started_at=attempt.started_at, finished_at=attempt.finished_at,
                          rollback_of_deployment_id=deployment.rollback_of_deployment_id),
        related_context=_context(svc, attempt) if include.include_related_context else None,
        snapshot=Snapshot(runtime_plan=deployment.runtime_plan,
                          environment_snapshot=deployment.environment_snapshot,
                          dependency_bindings=None)
        if include.include_snapshot else None,
        timeline=Timeline(created_at=attempt.created_at, started_at=attempt.started_at,
                          finished_at=attempt.finished_at, log_count=deployment.log_count,
                          events=events)
        if include.include_timeline else None,
        latest_failure=failure if include.include_latest_failure else None,
        recovery_summary=summary if include.include_recovery_summary else None,
        next_actions=_next_steps(attempt, ready), section_errors=[], generated_at=now)
