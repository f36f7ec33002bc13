"""Mengi's App Hosting request on the same Deployment aggregate.

Only `deployment_type: docker` can run here (a container on an edge node); Helm charts and
vClusters have no meaning on this platform and are refused with a clear error. The region
picks the hosts whose location names it (continent, country, administrative division or city,
case-insensitive); among them the one nearest their centre with room wins.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

import msgspec
from msgspec import Meta

from application.deployments import NO_ROOM, Accepted, Deployments, NoRoomError
from application.ports import PlacementIndex
from domain.app import MAX_ENV, check_env_key
from domain.placement import Candidate, Point
from domain.resource_profiles import check_image
from domain.shared import InvalidValueError, check_text

Text = Annotated[str, Meta(max_length=4096)]
MAX_PORT = 65535
# Mengi's AppType. What runs here is a container: the seed's default, helm, is answered as
# "container" (a Helm chart cannot run here), the others as asked.
AppType = Literal["web_app", "api", "database", "static_site", "container", "helm"]
APP_TYPES: tuple[AppType, ...] = get_args(AppType)


class VolumeConfig(msgspec.Struct):
    path: Text
    sizeGb: Annotated[int, Meta(ge=0, le=1 << 20)] = 10  # the seed's (camelCase) name
    purpose: Text | None = None


class AppHostingDeploymentCreate(msgspec.Struct):
    """Body of POST /deployments/app-hosting (all 23 fields of the seed)."""

    geographic_region: Annotated[str, Meta(min_length=1, max_length=128)]
    deployment_name: Annotated[str, Meta(min_length=1, max_length=128)]
    app_type: str = "helm"
    config: dict[str, Any] | None = None
    cpu_request: Annotated[float, Meta(gt=0, le=1024)] | None = None
    memory_request_mb: Annotated[int, Meta(ge=1, le=1 << 22)] | None = None
    replicas: Annotated[int, Meta(ge=1, le=1000)] | None = None
    container_port: Annotated[int, Meta(ge=1, le=MAX_PORT)] | None = None
    environment_variables: Annotated[list[Text], Meta(max_length=MAX_ENV)] | None = None
    docker_image: Annotated[str, Meta(min_length=1, max_length=512)] | None = None
    storage_size_gb: Annotated[int, Meta(ge=0, le=1 << 20)] | None = None
    volumes: list[VolumeConfig] | None = None
    run_as_uid: int | None = None
    deployment_type: str = "docker"
    helm_repo_url: Text | None = None
    helm_chart_name: Text | None = None
    helm_chart_version: Text | None = None
    custom_values_yaml: Text | None = None
    image_update_strategy: Text | None = None
    image_update_constraint: Text | None = None
    image_allow_tags: Text | None = None
    image_ignore_tags: Text | None = None
    kubernetes_version: Text | None = None


def _env(items: list[str] | None) -> list[dict[str, Any]]:
    env = []
    for i, item in enumerate(items or []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidValueError("expected KEY=value", f"environment_variables[{i}]")
        check_env_key(key, f"environment_variables[{i}]")
        env.append({"key": key, "value": value, "is_hidden": False})
    return env


def cpu_units(cpu_request: float | None) -> int:
    """Mengi asks in vCPU, the hosts count 1024 units a vCPU: at least one unit, since 0 units
    would start the container with no CPU limit and take no room on its host."""
    return max(1, round((cpu_request or 0.25) * 1024))


def app_type_of(asked: dict[str, Any]) -> AppType:
    """The AppType a deployment is answered with (see APP_TYPES)."""
    kind = asked.get("app_type")
    return next((t for t in APP_TYPES if t == kind and t != "helm"), "container")


def hosting_spec(cmd: AppHostingDeploymentCreate, user_id: UUID) -> dict[str, Any]:
    if cmd.deployment_type != "docker":
        raise InvalidValueError("only docker deployments run on this platform (no Helm,"
                                " no vCluster)", "deployment_type")
    if cmd.app_type not in APP_TYPES:
        raise InvalidValueError(f"should be one of {', '.join(APP_TYPES)}", "app_type")
    if cmd.docker_image is None:
        raise InvalidValueError("is required for a docker deployment", "docker_image")
    # Checked here as a version's are: "busybox\n" was placed, then refused by the engine.
    check_image(cmd.docker_image, "docker_image")
    check_text(cmd.deployment_name, "deployment_name", 128)
    if cmd.replicas not in (None, 1):
        raise InvalidValueError("one replica per deployment here", "replicas")
    if cmd.volumes:
        # Refused rather than ignored: an app that asked for a volume expects its data kept.
        raise InvalidValueError("no persistent volumes here: a container's disk lasts as long"
                                " as the deployment", "volumes")
    port = cmd.container_port
    ports = [{"port": port, "protocol": "HTTP", "name": str(port), "tls_upgrade": False}] \
        if port else []
    return {"app": cmd.deployment_name, "version": "app-hosting", "image": cmd.docker_image,
            "ports": ports, "cpu_units": cpu_units(cmd.cpu_request),
            "memory_mb": cmd.memory_request_mb or 256, "max_duration": 0, "command": None,
            "arguments": None, "env": _env(cmd.environment_variables),
            "hosting": {**json.loads(msgspec.json.encode(cmd)), "user_id": str(user_id)}}


class AppHosting:
    """Places Mengi app-hosting requests through Deployments."""

    def __init__(self, deployments: Deployments, index: PlacementIndex) -> None:
        self.deployments, self.index = deployments, index

    def create(self, cmd: AppHostingDeploymentCreate, user_id: UUID) -> Accepted:
        """`user_id`: who asked (Mengi's DeploymentResponse names its owner)."""
        spec = hosting_spec(cmd, user_id)
        region = cmd.geographic_region.strip().lower()
        places = self.index.locations()
        inside = {h for h, place in places.items() if region in _names(place)}
        if not inside:
            raise InvalidValueError("no host is located in this region", "geographic_region")
        points = [c.point for c in self.index.candidates() if c.host_id in inside and c.point]
        centre = [Point(sum(p.latitude for p in points) / len(points),
                        sum(p.longitude for p in points) / len(points))] if points else []

        def in_region(candidate: Candidate) -> bool:
            return candidate.host_id in inside

        try:
            return self.deployments.deploy_spec(spec, centre, in_region)
        except NoRoomError:
            raise InvalidValueError(f"{NO_ROOM}: no host in this region has room for"
                                    " the deployment", "geographic_region") from None


def _names(place: dict[str, Any]) -> set[str]:
    return {str(place[k]).lower() for k in
            ("continent", "country", "administrative_division", "city") if place.get(k)}
