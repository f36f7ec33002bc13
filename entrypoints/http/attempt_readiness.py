"""An attempt's recovery readiness (`deployments.recovery-readiness/v1`: retry, redeploy,
rollback and candidates), read (never decided) from the read models.

The rules are the aggregates' own, read: ResourceReads.plan_reasons for the resource, and
domain/deployment_attempt.py's sets for what an attempt's status allows; what each reason code
means and what clears it is entrypoints/http/attempt_reasons.py's. A command that the read said
was allowed can still be refused when it is decided (someone acted in between).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from domain.deployment_attempt import ACTIVE, RETRYABLE, AttemptStatus
from domain.shared import node_name
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import AppaloftShape
from entrypoints.http.attempt_reasons import RecoveryReason, Related, recovery_reasons, related
from entrypoints.http.serializers import Moment, described
from projections.resource_tables import AttemptRecord, ResourceRecord

_d = described


class RecoveryAction(AppaloftShape):
    allowed: bool
    command_active: bool
    reasons: list[RecoveryReason]
    target_operation: str


class Candidate(AppaloftShape):
    deployment_id: UUID
    finished_at: Moment | None
    status: AttemptStatus
    source_summary: Annotated[str, _d("The image it ran")]
    artifact_summary: Annotated[str, _d("The image it ran (nothing is built here)")]
    environment_snapshot_id: Annotated[UUID, _d(
        "Ours: the candidate's own id (each attempt keeps the snapshot it ran)")]
    runtime_target_summary: Annotated[str | None, _d("node-<id> it ran on")]
    rollback_ready: bool
    reasons: list[RecoveryReason]


class RollbackAction(RecoveryAction):
    candidates: list[Candidate]
    recommended_candidate_id: UUID | None


class RecommendedAction(AppaloftShape):
    kind: Literal["command"]
    target_operation: str
    label: str
    safe_by_default: bool
    blocked_reason_code: Annotated[None, _d("Only allowed actions are recommended: null")]
    command_active: bool


class RecoveryReadinessResponse(AppaloftShape):
    """What can be done about an attempt now: retry it, redeploy its resource, roll back"""

    schema_version: Literal["deployments.recovery-readiness/v1"]
    deployment_id: UUID
    resource_id: UUID
    generated_at: Moment
    state_version: Annotated[str, _d("The sequence of the attempt's latest event, as text")]
    recoverable: bool
    retryable: bool
    redeployable: bool
    rollback_ready: bool
    rollback_candidate_count: int
    retry: RecoveryAction
    redeploy: RecoveryAction
    rollback: RollbackAction
    recommended_actions: list[RecommendedAction]


SHAPES = (RecoveryReadinessResponse,)


def _action(codes: list[str], operation: str, ids: Related,
            active: bool = False) -> RecoveryAction:
    return RecoveryAction(allowed=not codes, command_active=active,
                          reasons=recovery_reasons(codes, ids), target_operation=operation)


def _candidates(svc: Services, attempt: AttemptRecord, limit: int) -> list[Candidate]:
    found_ = svc.resource_reads.rollback_candidates(attempt.resource_id, attempt.id)[:limit]
    candidates = []
    for c in found_:
        image = json.loads(c.snapshot)["image"]
        candidates.append(Candidate(
            deployment_id=c.id, finished_at=c.finished_at, status=c.status,
            source_summary=image, artifact_summary=image, environment_snapshot_id=c.id,
            runtime_target_summary=None if c.server_id is None else node_name(c.server_id),
            rollback_ready=True, reasons=[]))
    return candidates


def readiness(svc: Services, attempt: AttemptRecord, now: datetime,
              limit: int) -> RecoveryReadinessResponse:
    resource: ResourceRecord | None = svc.resource_reads.resources.get(attempt.resource_id)
    shared = ["resource-deleted"] if resource is None else svc.resource_reads.plan_reasons(
        resource)
    ids: Related = {"resource": attempt.resource_id, "project": attempt.project_id,
                    "environment": attempt.environment_id, "deployment": attempt.id}
    if resource is not None:
        ids = related(resource)
    retry_codes = list(shared)
    retry_ids = ids
    if attempt.status in ACTIVE or attempt.status == AttemptStatus.CANCEL_REQUESTED:
        retry_codes = [c for c in retry_codes if c != "attempt-not-terminal"]
        retry_codes.insert(0, "attempt-not-terminal")
        retry_ids = {**ids, "deployment": attempt.id}
    elif attempt.status not in RETRYABLE:
        retry_codes.insert(0, "attempt-not-retryable")
        retry_ids = {**ids, "deployment": attempt.id}
    candidates = [] if resource is None else _candidates(svc, attempt, limit)
    back_codes = list(shared) if candidates else [*shared, "no-rollback-candidate"]
    retry = _action(retry_codes, "deployments.retry", retry_ids, attempt.status in ACTIVE)
    redeploy = _action(list(shared), "resources.redeploy", ids)
    back = _action(back_codes, "deployments.rollback", ids)
    rollback = RollbackAction(
        allowed=back.allowed, command_active=False, reasons=back.reasons,
        target_operation=back.target_operation, candidates=candidates,
        recommended_candidate_id=candidates[0].deployment_id if candidates else None)
    recommended = [RecommendedAction(kind="command", target_operation=a.target_operation,
                                     label=a.target_operation.split(".")[-1],
                                     safe_by_default=False, blocked_reason_code=None,
                                     command_active=a.command_active)
                   for a in (retry, redeploy, rollback) if a.allowed]
    sequences = [s for s in (attempt.requested_seq, attempt.placed_seq, attempt.ready_seq,
                             attempt.failed_seq, attempt.stop_deferred_seq,
                             attempt.stop_requested_seq, attempt.terminated_seq)
                 if s is not None]
    return RecoveryReadinessResponse(
        schema_version="deployments.recovery-readiness/v1", deployment_id=attempt.id,
        resource_id=attempt.resource_id, generated_at=now,
        state_version=str(max(sequences, default=0)),
        recoverable=retry.allowed or redeploy.allowed or rollback.allowed,
        retryable=retry.allowed, redeployable=redeploy.allowed,
        rollback_ready=rollback.allowed, rollback_candidate_count=len(candidates),
        retry=retry, redeploy=redeploy, rollback=rollback, recommended_actions=recommended)
