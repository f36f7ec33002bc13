"""A resource's source and runtime profile as Appaloft shows them (`resources.show/v1`): the
image reference split into name, tag and digest, and the command with the health check it runs.

The seed's fields for what this service does not do (repositories, builds, buildpacks) are null
here, as the other Appaloft reads leave such fields, and each description says so.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from entrypoints.http.appaloft_views import AppaloftShape, HealthPolicyView
from entrypoints.http.serializers import described
from projections.resource_tables import ResourceRecord

_d = described
_NoGit = _d("Images, not repositories, are deployed here: null")
_NoBuild = _d("Nothing is built here (the image runs as it is): null")


class SourceView(AppaloftShape):
    kind: Literal["docker-image"]
    locator: Annotated[str | None, _d("The image reference; null until configured")]
    display_name: Annotated[str | None, _d("The image reference")]
    source_binding_fingerprint: Annotated[None, _NoGit]
    git_ref: Annotated[None, _NoGit]
    commit_sha: Annotated[None, _NoGit]
    base_directory: Annotated[None, _NoGit]
    original_locator: Annotated[str | None, _d("The image reference as configured")]
    repository_id: Annotated[None, _NoGit]
    repository_full_name: Annotated[None, _NoGit]
    default_branch: Annotated[None, _NoGit]
    image_name: str | None
    image_tag: str | None
    image_digest: Annotated[str | None, _d("The digest when the reference names one")]
    metadata: Annotated[dict[str, str], _d("Always empty here")]


class RuntimeProfileView(AppaloftShape):
    strategy: Literal["docker-container"]
    install_command: Annotated[None, _NoBuild]
    build_command: Annotated[None, _NoBuild]
    start_command: Annotated[str | None, _d("Entrypoint; null keeps the image's")]
    runtime_name: Annotated[str, _d("The container's service name: the resource's slug")]
    publish_directory: Annotated[None, _NoBuild]
    dockerfile_path: Annotated[None, _NoBuild]
    docker_compose_file_path: Annotated[None, _NoBuild]
    build_target: Annotated[None, _NoBuild]
    health_check_path: Annotated[str | None, _d("The HTTP health check's path; null: none")]
    health_check: Annotated[HealthPolicyView, _d("The health policy (as healthPolicy)")]
    args: Annotated[list[str], _d("Ours: the command's arguments")]



class NetworkProfileView(AppaloftShape):
    internal_port: Annotated[int | None, _d("The port the app listens on in its container")]
    upstream_protocol: Annotated[str, _d("http, tcp or udp")]
    exposure_mode: Literal["none"]
    target_service_name: None
    host_port: None


def network_view(record: ResourceRecord) -> NetworkProfileView:
    return NetworkProfileView(internal_port=record.internal_port,
                              upstream_protocol=record.protocol, exposure_mode="none",
                              target_service_name=None, host_port=None)


def source_view(image: str | None) -> SourceView:
    name, tag, digest = image, None, None
    if image is not None and "@" in image:
        name, digest = image.split("@", 1)
    elif image is not None and ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    return SourceView(
        kind="docker-image", locator=image, display_name=image, source_binding_fingerprint=None,
        git_ref=None, commit_sha=None, base_directory=None, original_locator=image,
        repository_id=None, repository_full_name=None, default_branch=None, image_name=name,
        image_tag=tag, image_digest=digest, metadata={})


def runtime_view(record: ResourceRecord, health: HealthPolicyView) -> RuntimeProfileView:
    checked = health.enabled and health.type == "http"
    return RuntimeProfileView(
        strategy="docker-container", install_command=None, build_command=None,
        start_command=record.command, runtime_name=record.slug, publish_directory=None,
        dockerfile_path=None, docker_compose_file_path=None, build_target=None,
        health_check_path=health.http.path if checked else None, health_check=health,
        args=json.loads(record.args))
