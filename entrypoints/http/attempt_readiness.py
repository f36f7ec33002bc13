"""What a deployment of a resource would need, read (never decided) from the read models:
the plan (`deployments.plan/v1`: readiness and reason codes) and an attempt's recovery
readiness (`deployments.recovery-readiness/v1`: retry, redeploy, rollback and candidates).

The rules are the aggregates' own, read: ResourceReads.plan_reasons for the resource, and
domain/deployment_attempt.py's sets for what an attempt's status allows. A command that the
read said was allowed can still be refused when it is decided (someone acted in between).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from domain.deployment_attempt import ACTIVE, RETRYABLE, AttemptStatus
from domain.node_status import NodeStatus
from domain.shared import node_name
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import AppaloftShape, Query, found
from entrypoints.http.serializers import Moment, described
from projections.query import Cond
from projections.resource_tables import AttemptRecord, ResourceRecord

_d = described
MESSAGES = {
    "project-archived": "the project is archived; restore it first",
    "environment-locked": "the environment is locked; unlock it first",
    "environment-archived": "the environment is archived",
    "resource-archived": "the resource is archived",
    "resource-deleted": "the resource was deleted",
    "resource-source-missing": "configure the resource's source image first",
    "resource-health-port-missing": "the health check needs a port: set one, or the"
                                    " network profile's internalPort",
    "attempt-not-terminal": "an attempt of this resource is still in progress",
    "context-mismatch": "the resource is not in this project and environment",
    "server-not-found": "no enrolled node has this id",
    "server-unavailable": "the node is not healthy",
    "no-server-available": "no healthy node is enrolled",
    "attempt-not-retryable": "only a failed or canceled attempt can be retried",
    "no-rollback-candidate": "no other attempt of this resource was healthy",
}


class PlanQuery(Query):
    project_id: Annotated[UUID, _d("The resource's project")]
    environment_id: Annotated[UUID, _d("The resource's environment")]
    resource_id: Annotated[UUID, _d("The resource to deploy")]
    server_id: Annotated[UUID | None, _d("An enrolled node; omitted: any healthy node")] = None


class Reason(AppaloftShape):
    code: Annotated[str, _d("A kebab-case reason code")]
    category: Literal["blocked"]
    phase: Literal["plan", "recovery"]
    message: str


class PlanContext(AppaloftShape):
    project_id: UUID
    environment_id: UUID
    resource_id: UUID
    server_id: UUID | None
    destination_id: None
    project_name: str | None
    environment_name: str | None
    resource_name: str
    server_name: str | None


class Readiness(AppaloftShape):
    status: Literal["ready", "blocked"]
    ready: bool
    reason_codes: list[str]


class PlanSource(AppaloftShape):
    kind: Literal["docker-image"]
    display_name: str | None
    locator: str | None


class PlanNetwork(AppaloftShape):
    internal_port: int | None
    upstream_protocol: str
    exposure_mode: Literal["none"]
    host_port: None
    target_service_name: None


class PlanHealth(AppaloftShape):
    enabled: bool
    kind: str
    path: str
    port: int | None


class PlanCommand(AppaloftShape):
    kind: Literal["start"]
    command: str
    source: Literal["resource-runtime-profile"]


class PlanResponse(AppaloftShape):
    """What a deployment would run and whether it can start now; nothing is created"""

    schema_version: Literal["deployments.plan/v1"]
    context: PlanContext
    readiness: Readiness
    source: PlanSource
    network: PlanNetwork
    health: PlanHealth
    commands: list[PlanCommand]
    warnings: list[Reason]
    unsupported_reasons: list[Reason]
    next_actions: list[str]
    generated_at: Moment


class RecoveryAction(AppaloftShape):
    allowed: bool
    command_active: bool
    reasons: list[Reason]
    target_operation: str


class Candidate(AppaloftShape):
    deployment_id: UUID
    finished_at: Moment | None
    status: AttemptStatus
    source_summary: Annotated[str, _d("The image it ran")]
    rollback_ready: bool
    reasons: list[Reason]


class RollbackAction(RecoveryAction):
    candidates: list[Candidate]
    recommended_candidate_id: UUID | None


class RecommendedAction(AppaloftShape):
    kind: Literal["command"]
    target_operation: str
    label: str
    safe_by_default: bool


class RecoveryReadinessResponse(AppaloftShape):
    """What can be done about an attempt now: retry it, redeploy its resource, roll back"""

    schema_version: Literal["deployments.recovery-readiness/v1"]
    deployment_id: UUID
    resource_id: UUID
    generated_at: Moment
    state_version: Annotated[int, _d("The sequence of the attempt's latest event")]
    recoverable: bool
    retryable: bool
    redeployable: bool
    rollback_ready: bool
    rollback_candidate_count: int
    retry: RecoveryAction
    redeploy: RecoveryAction
    rollback: RollbackAction
    recommended_actions: list[RecommendedAction]


SHAPES = (PlanResponse, RecoveryReadinessResponse)


def reasons(codes: list[str], phase: Literal["plan", "recovery"]) -> list[Reason]:
    return [Reason(code=c, category="blocked", phase=phase, message=MESSAGES.get(c, c))
            for c in codes]


def _server(svc: Services, server_id: UUID | None) -> tuple[str | None, list[str]]:
    """The server's name and what keeps a deployment off it (any healthy node if None)."""
    nodes = svc.fleet_reads.nodes
    if server_id is None:
        healthy = nodes.first(Cond("status", "eq", NodeStatus.HEALTHY.value))
        return None, [] if healthy is not None else ["no-server-available"]
    node = nodes.get(server_id)
    if node is None:
        return None, ["server-not-found"]
    return node_name(node.id), [] if node.status == NodeStatus.HEALTHY else [
        "server-unavailable"]


def plan(svc: Services, query: PlanQuery, now: datetime) -> PlanResponse:
    reads = svc.resource_reads
    resource_id = query.resource_id
    resource = found(reads.resources.get(resource_id), "resource", resource_id)
    project = reads.projects.get(query.project_id)
    environment = reads.environments.get(query.environment_id)
    codes = reads.plan_reasons(resource)
    if (resource.project_id, resource.environment_id) != (query.project_id,
                                                          query.environment_id):
        codes.insert(0, "context-mismatch")
    server_name, server_codes = _server(svc, query.server_id)
    codes += server_codes
    health = json.loads(resource.health)
    commands = [] if resource.command is None else [PlanCommand(
        kind="start", command=resource.command, source="resource-runtime-profile")]
    return PlanResponse(
        schema_version="deployments.plan/v1",
        context=PlanContext(
            project_id=query.project_id, environment_id=query.environment_id,
            resource_id=resource_id, server_id=query.server_id, destination_id=None,
            project_name=None if project is None else project.name,
            environment_name=None if environment is None else environment.name,
            resource_name=resource.name, server_name=server_name),
        readiness=Readiness(status="blocked" if codes else "ready", ready=not codes,
                            reason_codes=codes),
        source=PlanSource(kind="docker-image", display_name=resource.image,
                          locator=resource.image),
        network=PlanNetwork(internal_port=resource.internal_port,
                            upstream_protocol=resource.protocol, exposure_mode="none",
                            host_port=None, target_service_name=None),
        health=PlanHealth(enabled=health["enabled"], kind=health["type"], path=health["path"],
                          port=health["port"] or resource.internal_port),
        commands=commands, warnings=[], unsupported_reasons=reasons(codes, "plan"),
        next_actions=[], generated_at=now)


def _action(codes: list[str], operation: str, active: bool = False) -> RecoveryAction:
    return RecoveryAction(allowed=not codes, command_active=active,
                          reasons=reasons(codes, "recovery"), target_operation=operation)


def _candidates(svc: Services, attempt: AttemptRecord, limit: int) -> list[Candidate]:
    found_ = svc.resource_reads.rollback_candidates(attempt.resource_id, attempt.id)[:limit]
    return [Candidate(deployment_id=c.id, finished_at=c.finished_at, status=c.status,
                      source_summary=json.loads(c.snapshot)["image"], rollback_ready=True,
                      reasons=[]) for c in found_]


def readiness(svc: Services, attempt: AttemptRecord, now: datetime,
              limit: int) -> RecoveryReadinessResponse:
    resource: ResourceRecord | None = svc.resource_reads.resources.get(attempt.resource_id)
    shared = ["resource-deleted"] if resource is None else svc.resource_reads.plan_reasons(
        resource)
    retry_codes = list(shared)
    if attempt.status in ACTIVE or attempt.status == AttemptStatus.CANCEL_REQUESTED:
        retry_codes = [c for c in retry_codes if c != "attempt-not-terminal"]
        retry_codes.insert(0, "attempt-not-terminal")
    elif attempt.status not in RETRYABLE:
        retry_codes.insert(0, "attempt-not-retryable")
    candidates = [] if resource is None else _candidates(svc, attempt, limit)
    back_codes = list(shared) if candidates else [*shared, "no-rollback-candidate"]
    retry = _action(retry_codes, "deployments.retry", attempt.status in ACTIVE)
    redeploy = _action(list(shared), "resources.redeploy")
    back = _action(back_codes, "deployments.rollback")
    rollback = RollbackAction(
        allowed=back.allowed, command_active=False, reasons=back.reasons,
        target_operation=back.target_operation, candidates=candidates,
        recommended_candidate_id=candidates[0].deployment_id if candidates else None)
    recommended = [RecommendedAction(kind="command", target_operation=a.target_operation,
                                     label=a.target_operation.split(".")[-1],
                                     safe_by_default=False)
                   for a in (retry, redeploy, rollback) if a.allowed]
    sequences = [s for s in (attempt.requested_seq, attempt.placed_seq, attempt.ready_seq,
                             attempt.failed_seq, attempt.stop_deferred_seq,
                             attempt.stop_requested_seq, attempt.terminated_seq)
                 if s is not None]
    return RecoveryReadinessResponse(
        schema_version="deployments.recovery-readiness/v1", deployment_id=attempt.id,
        resource_id=attempt.resource_id, generated_at=now, state_version=max(sequences, default=0),
        recoverable=retry.allowed or redeploy.allowed or rollback.allowed,
        retryable=retry.allowed, redeployable=redeploy.allowed,
        rollback_ready=rollback.allowed, rollback_candidate_count=len(candidates),
        retry=retry, redeploy=redeploy, rollback=rollback, recommended_actions=recommended)

