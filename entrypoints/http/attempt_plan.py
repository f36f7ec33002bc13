"""The plan of a deployment (`deployments.plan/v1`), read (never decided) from the read
models: what it would run and whether it can start now, with reason codes
(ResourceReads.plan_reasons: the aggregates' own rules, read; what each code means and what
clears it is entrypoints/http/attempt_reasons.py's). Nothing is created. Sections about what
this service does not do (builds, buildpacks, proxy access, dependency bindings) are null, as
the other Appaloft reads leave them; a source's detected facts are null or empty (an image runs
as it is).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from domain.node_status import NodeStatus
from domain.shared import node_name
from entrypoints.bootstrap import Services
from entrypoints.http.appaloft_views import AppaloftShape, Query, found
from entrypoints.http.attempt_reasons import PlanReason, fix_path, plan_reasons, related
from entrypoints.http.serializers import Moment, described
from projections.query import Cond

_d = described
_Unused = Annotated[bool, _d("Accepted for Appaloft's clients; changes nothing here")]
_NotDetected = _d("Nothing is detected here (an image runs as it is): null")


class PlanQuery(Query):
    project_id: Annotated[UUID, _d("The resource's project")]
    environment_id: Annotated[UUID, _d("The resource's environment")]
    resource_id: Annotated[UUID, _d("The resource to deploy")]
    server_id: Annotated[UUID | None, _d("An enrolled node; omitted: any healthy node")] = None
    destination_id: Annotated[str | None, _d("Accepted, unused: no destinations here")] = None
    include_access_plan: _Unused = False
    include_command_specs: _Unused = False


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
    runtime_family: Annotated[None, _NotDetected]
    framework: Annotated[None, _NotDetected]
    package_manager: Annotated[None, _NotDetected]
    application_shape: Annotated[None, _NotDetected]
    runtime_version: Annotated[None, _NotDetected]
    project_name: Annotated[None, _NotDetected]
    detected_files: Annotated[list[str], _d("Always empty: nothing is detected here")]
    detected_scripts: Annotated[list[str], _d("Always empty: nothing is detected here")]
    dockerfile_path: Annotated[None, _NotDetected]
    compose_file_path: Annotated[None, _NotDetected]
    jar_path: Annotated[None, _NotDetected]
    reasoning: Annotated[list[str], _d("Always empty: nothing is detected here")]


class Planner(AppaloftShape):
    planner_key: Annotated[Literal["docker-image"], _d("Ours: the image runs as it is")]
    support_tier: Literal["first-class"]
    build_strategy: Annotated[None, _d("Nothing is built here: null")]
    packaging_mode: Annotated[None, _d("Nothing is packaged here: null")]
    target_kind: Literal["single-server"]
    target_provider_key: Annotated[Literal["edge-agent"], _d("Edge nodes run it")]


class PlanArtifact(AppaloftShape):
    kind: Annotated[Literal["docker-image"], _d("Ours: a container image, not built here")]
    runtime_artifact_kind: Literal["image"]
    runtime_artifact_intent: Annotated[None, _d("Nothing is built here: null")]
    image: str | None
    compose_file: None
    metadata: dict[str, str]


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


class NextAction(AppaloftShape):
    kind: Literal["command"]
    target_operation: str
    label: str
    safe_by_default: Literal[False]
    blocked_reason_code: Annotated[str | None, _d("The reason it clears; null: none")]


class PlanResponse(AppaloftShape):
    """What a deployment would run and whether it can start now; nothing is created"""

    schema_version: Literal["deployments.plan/v1"]
    context: PlanContext
    readiness: Readiness
    source: PlanSource
    planner: Planner
    buildpack: Annotated[None, _d("No builds here: null")]
    artifact: PlanArtifact
    commands: list[PlanCommand]
    network: PlanNetwork
    health: PlanHealth
    access: Annotated[None, _d("No proxy or generated access here: null")]
    dependency_bindings: Annotated[None, _d("No dependency bindings here: null")]
    warnings: Annotated[list[PlanReason], _d("Always empty")]
    unsupported_reasons: Annotated[list[PlanReason], _d("What blocks it, one per reasonCode")]
    next_actions: Annotated[list[NextAction], _d(
        "Deploy when it is ready; else the commands that clear its reasons")]
    generated_at: Moment


SHAPES = (PlanResponse,)


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


def _next_actions(codes: list[str]) -> list[NextAction]:
    if not codes:
        return [NextAction(kind="command", target_operation="deployments.create",
                           label="deploy", safe_by_default=False, blocked_reason_code=None)]
    return [NextAction(kind="command", target_operation=fix.target_operation, label=fix.label,
                       safe_by_default=False, blocked_reason_code=code)
            for code in codes for fix in fix_path(code)]


def _source(image: str | None) -> PlanSource:
    return PlanSource(kind="docker-image", display_name=image, locator=image,
                      runtime_family=None, framework=None, package_manager=None,
                      application_shape=None, runtime_version=None, project_name=None,
                      detected_files=[], detected_scripts=[], dockerfile_path=None,
                      compose_file_path=None, jar_path=None, reasoning=[])


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
        source=_source(resource.image),
        planner=Planner(planner_key="docker-image", support_tier="first-class",
                        build_strategy=None, packaging_mode=None, target_kind="single-server",
                        target_provider_key="edge-agent"),
        buildpack=None,
        artifact=PlanArtifact(kind="docker-image", runtime_artifact_kind="image",
                              runtime_artifact_intent=None, image=resource.image,
                              compose_file=None, metadata={}),
        commands=commands,
        network=PlanNetwork(internal_port=resource.internal_port,
                            upstream_protocol=resource.protocol, exposure_mode="none",
                            host_port=None, target_service_name=None),
        health=PlanHealth(enabled=health["enabled"], kind=health["type"], path=health["path"],
                          port=health["port"] or resource.internal_port),
        access=None, dependency_bindings=None, warnings=[],
        unsupported_reasons=plan_reasons(codes, related(resource, query.server_id)),
        next_actions=_next_actions(codes), generated_at=now)
