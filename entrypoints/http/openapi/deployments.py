"""OpenAPI parts for applications, hosts and the Edgegap-compatible deployment API: tags and the
wording of path parameters and request bodies (each operation's Op and each list's filter
wording are declared beside its route, in the route module). The response schemas come from
the Structs the handlers return (entrypoints/http/edgegap_shapes.py, app_hosting.py, apps.py
and agent_deployments.py SHAPES).

The Edgegap operations answer in Edgegap's own shapes (no {data, meta} envelope) and errors
({message, details}), as its clients expect; they accept `Authorization: token <key>`.
"""

from __future__ import annotations

from entrypoints.http.openapi.schemas import INT, STR, Schema

APPS, HOSTS = "Deployments.App", "Deployments.Host"
DEPLOY, LEGACY, FLEETS, TAGS_TAG = ("Edgegap.Deployments", "Edgegap.Legacy",
                                    "Edgegap.PrivateFleets", "Edgegap.Tags")
MENGI = "Mengi.AppHosting"
TAGS = [APPS, HOSTS, DEPLOY, LEGACY, FLEETS, TAGS_TAG, MENGI]
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "app_name": (STR, "Application name"), "version": (STR, "Version name"),
    "request_id": (STR, "Deployment request id (12 hex characters)"),
    "access_point_id": (INT, "Access point number, from ARBITRIUM_DELETE_URL"),
    "tag_name": (STR, "Tag name"), "fleet_name": (STR, "Name of your private fleet"),
}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateApp": ("AppCreateRequest", {"name": "Lowercase letters, digits, hyphens"}),
    "CreateAppVersion": ("AppVersionCreateRequest", {
        "image": "Container image reference, pulled or present on the node",
        "max_duration": "Minutes before the deployment is stopped; 0: no limit"}),
    "UpdateHost": ("HostUpdateRequest", {"fleet": "Private fleet name (null: none)"}),
    "DeploymentCreate": ("DeploymentCreate", {
        "users": "Players: ip_address (country-level geo-IP) or geo_coordinates"}),
    "PrivateFleetDeploymentCreate": ("PrivateFleetDeploymentCreate", {
        "private_host_ids": "Node ids to try first, in order"}),
    "BulkStop": ("BulkStopRequest", {"filters": "All must match"}),
    "TagBody": ("TagRequest", {"name": "The name of the tag"}),
    "DeploymentTelemetry": ("AgentTelemetryRequest", {
        "logs": "The container's latest log lines (at most 64 KiB)",
        "crashed": "The container exited unasked: these are its last logs"}),
    "AppHostingDeploymentCreate": ("AppHostingDeploymentCreate", {
        "geographic_region": "A continent, country, region or city some hosts are in"}),
    "AgentHostReport": ("AgentHostReportRequest", {
        "images": "Image references the node holds (RepoTags)"}),
    "DeploymentReport": ("AgentDeploymentReportRequest", {
        "state": "ready, error or terminated", "ports": "name -> {external, internal,"
        " protocol, link, tls_upgrade} once ready",
        "phase": "The step a start ended in (pull, start, health: after its health check);"
        " null when a running container ended"}),
    "DeploymentProgress": ("AgentProgressRequest", {
        "phase": "pull, start or health (a probe's result)",
        "level": "info or error",
        "message": "What happened, as the agent says it (1 to 1024 characters)"}),
    "HealthObservation": ("AgentHealthObservationRequest", {
        "kind": "change, heartbeat, probe (answers probe_id) or exit",
        "lifecycle": "running, exited, stopped or missing (not on this node)",
        "health": "healthy, unhealthy or unknown (no health check)"}),
}
