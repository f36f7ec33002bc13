"""Automatic rollback: a resource that asks for it (POST /resources/{id}/rollback-policy) has a
failed attempt rolled back to its last healthy one, decided in the very transaction that
failed the attempt, so no failure is left without its decision (nor decided twice).

The Resource records the decision (`AutomaticRollbackDecided`, published as
edge.resource.automatic_rollback_decided): begun as a new attempt, or refused with the reason
(the environment was locked meanwhile, the resource archived). The rollback re-runs the
candidate's snapshot exactly, as POST /deployments/{id}/rollback does, with trigger `rollback`;
the Resource never rolls back after a failed rollback, so a rollback that fails too ends there.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.resources import snapshot_for_deployment
from application.write_path import UnitOfWork
from domain.deployment import Deployment
from domain.deployment_attempt import attempt_of, check_rollback_candidate
from domain.resource import Resource
from domain.resource_snapshot import ResourceSnapshot
from domain.shared import DomainError


def automatic_rollback(uow: UnitOfWork, failed: Deployment, rollback_id: UUID
                       ) -> dict[str, Any] | None:
    """In the decision that failed `failed`: when its resource has a rollback due, the
    decision recorded and, unless refused, attempt `rollback_id` begun on the Resource; returns
    that attempt's spec (the caller places it), or None."""
    own = failed.spec.get("resource")
    if not isinstance(own, dict):
        return None
    resource = uow.find(Resource, UUID(own["resource_id"]))
    candidate_id = None if resource is None else resource.rollback_due_after(failed.id)
    if resource is None or candidate_id is None:
        return None
    try:
        snapshot_for_deployment(uow, resource.id)  # the environment still takes deployments
        resource.check_mutable()
        resource.check_rollback_candidate(candidate_id)
        candidate = uow.get(Deployment, candidate_id, f"deployment {candidate_id}")
        check_rollback_candidate(attempt_of(candidate))
    except DomainError as exc:
        resource.decide_automatic_rollback(failed.id, None, str(exc), uow.now)
        return None
    resource.decide_automatic_rollback(failed.id, rollback_id, None, uow.now)
    return {**ResourceSnapshot.from_spec(candidate.spec).as_spec(),
            "rollback_candidate_deployment_id": str(candidate_id), "trigger": "rollback",
            "source_deployment_id": str(failed.id), "automatic": True}
