"""What an attempt runs, as Appaloft shows it in a deployment's list item and show: its
`runtimePlan` and its `environmentSnapshot`, both read from the masked snapshot the attempt
record keeps (projections/resource_handlers.masked_snapshot), so a secret is `****` here too.

An image runs as it is here: the plan's build, packaging, detection and access fields are null
or empty, as the other Appaloft reads leave what this service does not do. A snapshot is kept
by each attempt (a retry or rollback copies its source's), so the plan's and the environment
snapshot's ids are the attempt's own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from domain.resource_profiles import DEFAULT_HEALTH
from domain.shared import name_id
from entrypoints.http.appaloft_views import AppaloftShape, HealthPolicyView, health_view
from entrypoints.http.serializers import Moment, described
from projections.resource_tables import AttemptRecord

_d = described
_Empty = _d("Always empty here")


class VariableView(AppaloftShape):
    key: str
    value: Annotated[str | None, _d("**** for a secret")]
    scope: str
    exposure: str
    is_secret: bool
    kind: str


class EnvironmentSnapshot(AppaloftShape):
    id: Annotated[UUID, _d("Ours: the snapshot's (a retry or rollback runs, and shows, the"
                           " original's)")]
    environment_id: UUID
    created_at: Moment
    precedence: list[str]
    variables: list[VariableView]


class PlanSourceView(AppaloftShape):
    kind: Literal["docker-image"]
    locator: Annotated[str, _d("The image reference")]
    display_name: str
    integration_key: Annotated[None, _d("No source integrations here: null")]
    inspection: Annotated[None, _d("Nothing is inspected here (an image runs as it is): null")]
    metadata: Annotated[dict[str, str], _Empty]


class RuntimeArtifact(AppaloftShape):
    kind: Literal["image"]
    intent: Annotated[None, _d("Nothing is built here: null")]
    image: str
    compose_file: None
    metadata: Annotated[dict[str, str], _Empty]


class Execution(AppaloftShape):
    kind: Literal["docker-container"]
    working_directory: Annotated[None, _d("The image's: null")]
    install_command: Annotated[None, _d("Nothing is installed or built here: null")]
    build_command: Annotated[None, _d("Nothing is installed or built here: null")]
    start_command: Annotated[str | None, _d("Entrypoint; null keeps the image's")]
    health_check_path: Annotated[str | None, _d("The HTTP check's path; null: none")]
    health_check: HealthPolicyView
    port: Annotated[int | None, _d("The internal port")]
    image: str
    dockerfile_path: None
    compose_file: None
    access_routes: Annotated[list[str], _d("Always empty: no proxy routes here")]
    verification_steps: Annotated[list[str], _Empty]
    metadata: Annotated[dict[str, str], _Empty]
    args: Annotated[list[str], _d("Ours: the command's arguments")]
    protocol: Annotated[str, _d("Ours: the internal port's protocol")]
    cpu_units: Annotated[int, _d("Ours: the room it takes on its node")]
    memory_mb: Annotated[int, _d("Ours: the room it takes on its node")]


class RuntimeTarget(AppaloftShape):
    kind: Literal["single-server"]
    provider_key: Literal["edge-agent"]
    server_ids: Annotated[list[str], _d("The node it was placed on; empty before placement")]
    metadata: Annotated[dict[str, str], _Empty]


class RuntimePlan(AppaloftShape):
    """What the attempt runs: the image, its command and checks, and where"""

    id: Annotated[UUID, _d("Ours: the plan's (a retry or rollback runs, and shows, the"
                           " original's)")]
    source: PlanSourceView
    build_strategy: Annotated[None, _d("Nothing is built here: null")]
    packaging_mode: Annotated[None, _d("Nothing is packaged here: null")]
    runtime_artifact: RuntimeArtifact
    execution: Execution
    target: RuntimeTarget
    detect_summary: Annotated[None, _d("Nothing is detected here: null")]
    steps: Annotated[list[str], _Empty]
    generated_at: Annotated[Moment, _d("When the snapshot was taken: the original attempt's"
                                       " request")]


def _taken(attempt: AttemptRecord, snapshot: dict[str, Any]) -> datetime:
    """When the snapshot was taken: a retry's or rollback's is the original's time."""
    taken = snapshot.get("createdAt")
    return attempt.created_at if taken is None else datetime.fromisoformat(taken)


def _snapshot_id(kind: str, attempt: AttemptRecord, snapshot: dict[str, Any]) -> UUID:
    """An id of the snapshot itself, not of the attempt: a retry or a rollback runs the
    original's snapshot, and shows the same ids (what it ran is that snapshot, exactly)."""
    content = {k: v for k, v in snapshot.items() if k != "createdAt"}
    return name_id(kind, str(attempt.environment_id), _taken(attempt, snapshot).isoformat(),
                   json.dumps(content, sort_keys=True))


def environment_snapshot(attempt: AttemptRecord, snapshot: dict[str, Any]) -> EnvironmentSnapshot:
    variables = [VariableView(key=v["key"], value=v["value"], scope=v["scope"],
                              exposure=v["exposure"], is_secret=v["is_secret"], kind=v["kind"])
                 for v in snapshot["variables"]]
    return EnvironmentSnapshot(id=_snapshot_id("environment-snapshot", attempt, snapshot),
                               environment_id=attempt.environment_id,
                               created_at=_taken(attempt, snapshot),
                               precedence=snapshot["precedence"], variables=variables)


def runtime_plan(attempt: AttemptRecord, snapshot: dict[str, Any]) -> RuntimePlan:
    # Full, whatever an older snapshot kept: the defaults are what it ran with.
    image, health = snapshot["image"], {**DEFAULT_HEALTH, **snapshot["health"]}
    checked = health["enabled"] and health["type"] == "http"
    return RuntimePlan(
        id=_snapshot_id("runtime-plan", attempt, snapshot),
        source=PlanSourceView(kind="docker-image", locator=image, display_name=image,
                              integration_key=None, inspection=None, metadata={}),
        build_strategy=None, packaging_mode=None,
        runtime_artifact=RuntimeArtifact(kind="image", intent=None, image=image,
                                         compose_file=None, metadata={}),
        execution=Execution(
            kind="docker-container", working_directory=None, install_command=None,
            build_command=None, start_command=snapshot["command"],
            health_check_path=health["path"] if checked else None,
            health_check=health_view(health), port=snapshot["internalPort"], image=image,
            dockerfile_path=None, compose_file=None, access_routes=[], verification_steps=[],
            metadata={}, args=snapshot["args"], protocol=snapshot["protocol"],
            cpu_units=snapshot["cpuUnits"], memory_mb=snapshot["memoryMb"]),
        target=RuntimeTarget(kind="single-server", provider_key="edge-agent",
                             server_ids=[] if attempt.server_id is None
                             else [str(attempt.server_id)], metadata={}),
        detect_summary=None, steps=[], generated_at=_taken(attempt, snapshot))
