"""OpenAPI parts for applications, hosts and the Edgegap-compatible deployment API: per-operation
wording and metadata only. The response schemas come from the Structs the handlers return
(entrypoints/http/edgegap_shapes.py, app_hosting.py, apps.py and agent_deployments.py
SHAPES).

The Edgegap operations answer in Edgegap's own shapes (no {data, meta} envelope) and errors
({message, details}), as its clients expect; they accept `Authorization: token <key>`.
"""

from __future__ import annotations

from application.agent_protocol import (
    AgentHostReport,
    DeploymentProgress,
    DeploymentReport,
    DeploymentTelemetry,
    HealthObservation,
)
from application.app_hosting import AppHostingDeploymentCreate
from application.apps import CreateApp, CreateAppVersion
from application.deployment_inputs import (
    BulkStop,
    DeploymentCreate,
    PrivateFleetDeploymentCreate,
    TagBody,
)
from application.hosts import UpdateHost
from entrypoints.http import apps, edgegap, edgegap_fleet, edgegap_telemetry
from entrypoints.http.openapi.op import AGENT, NODE_TOKEN, PUBLIC, Op
from entrypoints.http.openapi.schemas import INT, STR, Schema

APPS, HOSTS = "Deployments.App", "Deployments.Host"
DEPLOY, LEGACY, FLEETS, TAGS_TAG = ("Edgegap.Deployments", "Edgegap.Legacy",
                                    "Edgegap.PrivateFleets", "Edgegap.Tags")
MENGI = "Mengi.AppHosting"
TAGS = [APPS, HOSTS, DEPLOY, LEGACY, FLEETS, TAGS_TAG, MENGI]
_NO_ROOM = (" 422 when no healthy host has room: the deployment is recorded in Status.ERROR"
            " with its request_id; stop it to remove it. 400: invalid body, or unknown"
            " application or version (nothing is created).")
_STOP = (" 200 when READY (the container gets SIGTERM) or ERROR (nothing runs: it ends"
         " TERMINATED at once); 202 otherwise: the stop is carried out once READY or ERROR is"
         " reached. 410: already terminated.")
_G, _P, _D, _PA = "GET", "POST", "DELETE", "PATCH"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_P, "/api/v1/apps"): Op(APPS, "Create an application", 201, "App", (400, 409, 422),
                             CreateApp),
    (_G, "/api/v1/apps"): Op(APPS, "List applications", 200, "App", (400,),
                             listing=apps.APPS),
    (_G, "/api/v1/apps/{app_name}"): Op(APPS, "Get an application", 200, "App", (404,)),
    (_D, "/api/v1/apps/{app_name}"): Op(APPS, "Delete an application", 204, None, (404, 409),
                                        description="409 while it has versions."),
    (_P, "/api/v1/apps/{app_name}/versions"): Op(
        APPS, "Register a version", 201, "AppVersion", (400, 404, 409, 422), CreateAppVersion),
    (_G, "/api/v1/apps/{app_name}/versions"): Op(APPS, "List versions", 200, "AppVersion",
                                                 (400, 404), listing=apps.VERSIONS),
    (_G, "/api/v1/apps/{app_name}/versions/{version}"): Op(
        APPS, "Get a version", 200, "AppVersion", (404,)),
    (_D, "/api/v1/apps/{app_name}/versions/{version}"): Op(
        APPS, "Delete a version", 204, None, (404,)),
    (_G, "/api/v1/hosts"): Op(HOSTS, "List host profiles", 200, "Host", (400,),
                              listing=apps.HOSTS),
    (_G, "/api/v1/nodes/{id}/host"): Op(HOSTS, "Get a node's host profile", 200, "Host",
                                        (400, 404)),
    (_PA, "/api/v1/nodes/{id}/host"): Op(
        HOSTS, "Set a node's location, capacity and fleet", 200, "Host", (400, 404, 422),
        UpdateHost, description="Creates the profile on first use; 1024 cpu units = 1 vCPU."),
    (_P, "/v2/deployments"): Op(DEPLOY, "[v2] Deploy", 202, "DeploymentAccepted",
                                (400, 422), DeploymentCreate, flat=True,
                                description="Places the version on the healthy host with"
                                " room nearest the users." + _NO_ROOM),
    (_P, "/v2/private-fleets:deploy"): Op(
        FLEETS, "Deploy to Fleet", 202, "DeploymentAccepted", (400, 422),
        PrivateFleetDeploymentCreate, flat=True,
        description="private_host_ids (node ids) are tried in order, then the rest of the"
        " fleet by distance." + _NO_ROOM),
    (_G, "/v2/private-fleets/{fleet_name}/hosts"): Op(
        FLEETS, "List Private Fleet Hosts", 200, "FleetHosts", (400,), flat=True),
    (_G, "/v1/status/{request_id}"): Op(LEGACY, "Deployment status", 200,
                                        "DeploymentStatus", (400, 404), flat=True),
    (_D, "/v1/stop/{request_id}"): Op(LEGACY, "Stop a deployment", 200, "DeploymentStop",
                                      (400, 404, 410), flat=True, also=(202,),
                                      description="Graceful (SIGTERM)." + _STOP),
    (_D, "/v1/self/stop/{request_id}/{access_point_id}"): Op(
        LEGACY, "Stop a deployment from inside it", 200, "DeploymentStop",
        (400, 401, 403, 404, 410), flat=True, also=(202,), security=PUBLIC,
        description="Called with ARBITRIUM_DELETE_URL and the header `authorization:"
        " $ARBITRIUM_DELETE_TOKEN`, both injected into the container; 401 without the header,"
        " 403 with a token (or access point) not this deployment's, 404 for an unknown"
        " deployment." + _STOP),
    (_P, "/v1/deployments/bulk-stop"): Op(
        LEGACY, "Bulk stop", 202, "BulkStop", (400,), BulkStop, flat=True,
        description="Filters on request_id, app_name, app_version, status, tags or node_id;"
        " any/all/not. Every filter must pass."),
    (_G, "/v1/deployments"): Op(LEGACY, "List deployments", 200, "DeploymentList", (400,),
                                flat=True, description="Newest first.",
                                query=edgegap.DeploymentListQuery),
    (_G, "/v1/locations"): Op(LEGACY, "List locations", 200, "Locations", (400,), flat=True,
                              description="`app` and `version` keep the locations with room"
                              " for that version.", query=edgegap_fleet.LocationsQuery),
    (_G, "/v1/deployments/{request_id}/tags"): Op(TAGS_TAG, "List tags", 200, "TagList",
                                                  (404,), flat=True),
    (_P, "/v1/deployments/{request_id}/tags"): Op(
        TAGS_TAG, "Create a tag", 200, "Tag", (400, 404, 409), TagBody, flat=True,
        description="Not injected into a running container."),
    (_G, "/v1/deployments/{request_id}/tags/{tag_name}"): Op(TAGS_TAG, "Get a tag", 200, "Tag",
                                                             (404,), flat=True),
    (_PA, "/v1/deployments/{request_id}/tags/{tag_name}"): Op(
        TAGS_TAG, "Rename a tag", 200, "Tag", (400, 404, 409), TagBody, flat=True),
    (_D, "/v1/deployments/{request_id}/tags/{tag_name}"): Op(TAGS_TAG, "Delete a tag", 204,
                                                             None, (404,)),
    ("POST", "/agent/v1/deployments/{request_id}/report"): Op(
        AGENT, "Report a deployment's container", 200, "AgentDeploymentReport",
        (400, 404, 422), DeploymentReport, security=NODE_TOKEN,
        description="ready (with its ports), error (with an exit code) or terminated."),
    (_G, "/v1/deployment/{request_id}/container-logs"): Op(
        LEGACY, "Container logs", 200, "ContainerLogs", (400, 404), flat=True,
        description="The latest log tail the agent sent (every --telemetry-interval seconds),"
        " and the logs of a crash. 404 once the deployment is terminated."),
    (_G, "/v1/metrics/deployment/{request_id}"): Op(
        LEGACY, "Deployment metrics", 200, "DeploymentMetrics", (400, 404), flat=True,
        query=edgegap_telemetry.MetricsQuery,
        description="Totals are cumulative since the container started; cpu is percent of one"
        " core, mem is bytes. A bad time, step or range is a 400 (Edgegap's 422 means only"
        " \"Couldn't Allocate Server\" here)."),
    ("POST", "/agent/v1/deployments/{request_id}/telemetry"): Op(
        AGENT, "Send a container's log tail and a resource sample", 200, "AgentTelemetry",
        (400, 404, 422), DeploymentTelemetry, security=NODE_TOKEN),
    ("POST", "/deployments/app-hosting"): Op(
        MENGI, "Create App Hosting Deployment", 200, "AppHostingDeployment", (413, 422),
        AppHostingDeploymentCreate, flat=True,
        description="Mengi's request on the same deployments: `deployment_type: docker` only"
        " (docker_image, container_port, cpu_request in vCPU, memory_request_mb,"
        " environment_variables as KEY=value). The region picks the hosts whose location"
        " names it; the answer is Mengi's DeploymentResponse (status pending, provisioning,"
        " running, failed, stopped or deleting), plus `request_id` for the Edgegap endpoints."
        " Errors are FastAPI's {detail: [{loc, msg, type}]}; a body past MAX_BODY_BYTES is a"
        " 413 {detail}."),
    ("POST", "/agent/v1/deployments/{request_id}/progress"): Op(
        AGENT, "Report a step of a deployment's start", 200, "AgentProgress",
        (400, 404, 422), DeploymentProgress, security=NODE_TOKEN,
        description="While it starts: the image pulled or found, the container started, a"
        " health probe's result. At most 64 lines are kept per deployment (`recorded`"
        " false past them); they show in GET /deployments/{id}/logs and its events stream."),
    ("POST", "/agent/v1/deployments/{request_id}/health"): Op(
        AGENT, "Report a deployment's health", 200, "AgentHealthObservation",
        (400, 404, 422), HealthObservation, security=NODE_TOKEN,
        description="On a change of its health, as a heartbeat of an unchanged state, in"
        " answer to a live probe (probe_id), and when its container ends."),
    ("POST", "/agent/v1/host"): Op(
        AGENT, "Report the node's placement profile and cached images", 200, "AgentHost",
        (400, 404, 422), AgentHostReport, security=NODE_TOKEN,
        description="Flags given to the agent (location, capacity, fleet) are recorded; the"
        " capacity it detected is used only while none is set. `images` replaces the list"
        " used by require_cached_locations."),
}
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "app_name": (STR, "Application name"), "version": (STR, "Version name"),
    "request_id": (STR, "Deployment request id (12 hex characters)"),
    "access_point_id": (INT, "Access point number, from ARBITRIUM_DELETE_URL"),
    "tag_name": (STR, "Tag name"), "fleet_name": (STR, "Name of your private fleet"),
}
QUERY_DOCS: dict[str, dict[str, str]] = {
    "/api/v1/apps": {"name": "Filter by name (exact or wildcard)"},
    "/api/v1/apps/{app_name}/versions": {"name": "Filter by version name",
                                         "image": "Filter by image"},
    "/api/v1/hosts": {"fleet": "Filter by private fleet", "status": "Filter by node status",
                      "cluster_name": "Filter by the node's cluster"},
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
