"""The reason codes of the plan and of recovery readiness, and their two seed shapes.

One table says, for each code the read side can give, what it means, what clears it, which
entity it is about and whether asking again later can succeed without a change: the plan's
reasons (`warnings`, `unsupportedReasons`: message, recommendation, fixPath...) and recovery's
(`retry.reasons`...: recommendation, related ids, retriable) are both rendered from it, so the
two reads never disagree about a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from entrypoints.http.appaloft_views import AppaloftShape
from entrypoints.http.serializers import described
from projections.resource_tables import ResourceRecord

_d = described
EntityType = Literal["project", "environment", "resource", "deployment", "server"]


@dataclass(frozen=True)
class Rule:
    message: str  # what is wrong
    recommendation: str  # what to do about it
    entity: EntityType | None  # what relatedEntityId names (None: nothing in particular)
    retriable: bool = False  # it can clear without a change: waiting may do
    fix: str | None = None  # the operation that clears it
    field: str | None = None  # the resource profile field it is about


RULES: dict[str, Rule] = {
    "project-archived": Rule("the project is archived", "restore the project first",
                             "project", fix="projects.restore"),
    "environment-locked": Rule("the environment is locked", "unlock the environment first",
                               "environment", fix="environments.unlock"),
    "environment-archived": Rule("the environment is archived",
                                 "deploy from an active environment: an archived one stays"
                                 " read-only", "environment"),
    "resource-archived": Rule("the resource is archived",
                              "create a new resource: an archived one takes no deployment",
                              "resource"),
    "resource-deleted": Rule("the resource was deleted", "nothing can be deployed of it",
                             "resource"),
    "resource-source-missing": Rule("the resource has no source image",
                                    "configure the resource's source image first", "resource",
                                    fix="resources.configure-source", field="source"),
    "resource-health-port-missing": Rule(
        "the health check has no port", "set the health check's port, or the network"
        " profile's internalPort", "resource", fix="resources.configure-network-profile",
        field="networkProfile.internalPort"),
    "attempt-not-terminal": Rule("an attempt of this resource is still in progress",
                                 "wait for it to end, or cancel it", "deployment",
                                 retriable=True, fix="deployments.cancel"),
    "context-mismatch": Rule("the resource is not in this project and environment",
                             "use the resource's own projectId and environmentId", "resource"),
    "server-not-found": Rule("no enrolled node has this id",
                             "choose an enrolled node, or omit serverId", "server"),
    "server-unavailable": Rule("the node is not healthy",
                               "wait for it to report healthy, or choose another node",
                               "server", retriable=True),
    "no-server-available": Rule("no healthy node is enrolled",
                                "enroll a node, or wait for one to report healthy", None,
                                retriable=True),
    "attempt-not-retryable": Rule("only a failed or canceled attempt can be retried",
                                  "redeploy the resource instead", "deployment",
                                  fix="resources.redeploy"),
    "no-rollback-candidate": Rule("no other attempt of this resource was healthy",
                                  "redeploy the resource instead", "resource",
                                  fix="resources.redeploy"),
}
_UNKNOWN = Rule("", "", None)


def rule(code: str) -> Rule:
    return RULES.get(code, _UNKNOWN)


Related = dict[str, UUID | None]  # EntityType -> its id in the read's context


class RecoveryReason(AppaloftShape):
    """Why a recovery action is not allowed now"""

    code: Annotated[str, _d("A kebab-case reason code")]
    category: Literal["blocked"]
    phase: Literal["recovery"]
    related_deployment_id: Annotated[UUID | None, _d(
        "The deployment it is about: the attempt still in progress, or this one")]
    related_entity_id: Annotated[UUID | None, _d("The entity it is about; null: none")]
    related_entity_type: Annotated[EntityType | None, _d("What relatedEntityId names")]
    retriable: Annotated[bool, _d("It can clear without a change (an attempt ending, a node"
                                  " becoming healthy): asking again later may succeed")]
    recommendation: str


class FixAction(AppaloftShape):
    kind: Literal["command"]
    target_operation: Annotated[str, _d("The operation that clears it")]
    label: str
    profile_field: Annotated[str | None, _d("The resource profile field it sets; null: none")]
    docs_anchor: Annotated[None, _d("No documentation anchors here: null")]
    safe_by_default: Literal[False]


class PlanReason(AppaloftShape):
    """Why the deployment cannot start now"""

    code: Annotated[str, _d("A kebab-case reason code")]
    reason_code: Annotated[str, _d("The same code")]
    category: Literal["blocked"]
    phase: Literal["plan"]
    message: str
    recommendation: str
    evidence: Annotated[list[str], _d("Always empty: nothing is detected from a source here")]
    fix_path: list[FixAction]
    override_path: Annotated[list[FixAction], _d("Always empty: no reason can be overridden")]
    affected_profile_field: str | None
    related_entity_id: UUID | None
    related_entity_type: EntityType | None


def related(resource: ResourceRecord, server_id: UUID | None = None) -> Related:
    """The ids a reason about this resource can name."""
    return {"project": resource.project_id, "environment": resource.environment_id,
            "resource": resource.id, "deployment": resource.active_deployment_id,
            "server": server_id}


def _related(found: Rule, ids: Related) -> UUID | None:
    return None if found.entity is None else ids.get(found.entity)


def recovery_reasons(codes: list[str], ids: Related) -> list[RecoveryReason]:
    reasons = []
    for code in codes:
        found = rule(code)
        entity = _related(found, ids)
        reasons.append(RecoveryReason(
            code=code, category="blocked", phase="recovery",
            related_deployment_id=entity if found.entity == "deployment" else None,
            related_entity_id=entity,
            related_entity_type=None if entity is None else found.entity,
            retriable=found.retriable, recommendation=found.recommendation or code))
    return reasons


def fix_path(code: str) -> list[FixAction]:
    found = rule(code)
    if found.fix is None:
        return []
    return [FixAction(kind="command", target_operation=found.fix, label=found.recommendation,
                      profile_field=found.field, docs_anchor=None, safe_by_default=False)]


def plan_reasons(codes: list[str], ids: Related) -> list[PlanReason]:
    reasons = []
    for code in codes:
        found = rule(code)
        entity = _related(found, ids)
        reasons.append(PlanReason(
            code=code, reason_code=code, category="blocked", phase="plan",
            message=found.message or code, recommendation=found.recommendation or code,
            evidence=[], fix_path=fix_path(code), override_path=[],
            affected_profile_field=found.field, related_entity_id=entity,
            related_entity_type=None if entity is None else found.entity))
    return reasons


SHAPES = (RecoveryReason, PlanReason)
