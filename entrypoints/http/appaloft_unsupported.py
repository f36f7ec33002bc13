"""The Appaloft operations under the prefixes we serve that this service does not do: each
answers 403 `forbidden` in the house error envelope, naming the feature it needs
(`details.feature`) and what to use instead, whatever its ids and body: a 4xx, as a feature
switched off by configuration is, since a 5xx reads as the server failing (monitors alert on it,
clients retry it).

Before, such a request got whatever the route table happened to give it: 404 "Resource not
found" (as for an unknown id), 405 (POST /servers), or a 400 about a path id that is not a UUID
(GET /resources/runtime-log-archives matched GET /resources/{resourceId}). A client could not
tell "this service has no such feature" from "your id is wrong". These routes come before the
served Appaloft routes in the table (app.API_MODULES), so a literal segment such as
`runtime-log-archives` is never read as an id. The README's "Resources (Appaloft)" lists them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from entrypoints.http.crud import Endpoint, named
from entrypoints.http.errors import ApiError
from entrypoints.http.openapi.appaloft import AUDIT, DEPLOYMENT, RESOURCE, SERVER
from entrypoints.http.openapi.op import Op
from entrypoints.http.routing import DocumentedRoute, route

_NODES = ("servers are edge nodes: a node's agent enrolls itself with an enrollment key"
          " (POST /api/v1/enrollment-keys), its name is node-<id>, and it is removed with"
          " DELETE /api/v1/nodes/{id}")
# feature -> why this service does not do it, and what to use instead
FEATURES = {
    "server-registration": _NODES + "; nothing is registered or reached by host here",
    "server-lifecycle": _NODES + "; there is no rename, deactivation or delete-check here",
    "server-connectivity": "the admin never connects to a server, least of all one not"
                           " enrolled: its agent calls in (POST /servers/{id}/connectivity-tests"
                           " reports what an enrolled one's heartbeats say)",
    "ssh-credentials": "agents call the admin; it keeps no SSH credential for a server",
    "server-capacity": "server capacity is not inspected or pruned here (a node's metrics:"
                       " GET /api/v1/nodes/{id}/metrics)",
    "edge-proxy": "no edge proxy or generated access is managed here: a container publishes"
                  " its ports on its node",
    "auto-deploy": "no git sources or source events here: a resource's source is an image",
    "storage-volumes": "no storage volumes are attached here",
    "runtime-log-archives": "runtime logs are kept per deployment (its last 1000 lines) for"
                            " DEPLOYMENT_TELEMETRY_RETENTION_DAYS and not archived",
    "dependency-bindings": "no dependency resources (databases...) are provisioned or bound"
                           " here",
    "preview-environments": "no preview environments here",
    "deployment-prune": "a deployment's history is events and is never pruned here; its"
                        " logs and telemetry age out after DEPLOYMENT_TELEMETRY_RETENTION_DAYS",
    "audit-retention": "the audit is the event store itself: its events are never pruned,"
                       " archived or held here",
}

_TABLE: list[tuple[str, str, str, str]] = [  # method, path, tag, feature
    ("POST", "/servers", SERVER, "server-registration"),
    ("POST", "/servers/connectivity-tests", SERVER, "server-connectivity"),
    ("GET", "/servers/capacity/policies", SERVER, "server-capacity"),
    ("POST", "/servers/capacity/policies", SERVER, "server-capacity"),
    ("GET", "/servers/capacity/policies/{policyId}", SERVER, "server-capacity"),
    ("DELETE", "/servers/{serverId}", SERVER, "server-lifecycle"),
    ("POST", "/servers/{serverId}/rename", SERVER, "server-lifecycle"),
    ("POST", "/servers/{serverId}/deactivate", SERVER, "server-lifecycle"),
    ("GET", "/servers/{serverId}/delete-check", SERVER, "server-lifecycle"),
    ("POST", "/servers/{serverId}/credentials", SERVER, "ssh-credentials"),
    ("GET", "/servers/{serverId}/capacity", SERVER, "server-capacity"),
    ("POST", "/servers/{serverId}/capacity/prune", SERVER, "server-capacity"),
    ("POST", "/servers/{serverId}/edge-proxy/configuration", SERVER, "edge-proxy"),
    ("POST", "/servers/{serverId}/edge-proxy/bootstrap", SERVER, "edge-proxy"),
    ("GET", "/resources/runtime-log-archives", RESOURCE, "runtime-log-archives"),
    ("GET", "/resources/runtime-log-archives/{archiveId}", RESOURCE, "runtime-log-archives"),
    ("POST", "/resources/runtime-log-archives/prune", RESOURCE, "runtime-log-archives"),
    ("POST", "/resources/{resourceId}/runtime-log-archives", RESOURCE, "runtime-log-archives"),
    ("POST", "/resources/{resourceId}/access-profile", RESOURCE, "edge-proxy"),
    ("GET", "/resources/{resourceId}/proxy-configuration", RESOURCE, "edge-proxy"),
    ("POST", "/resources/{resourceId}/auto-deploy", RESOURCE, "auto-deploy"),
    ("POST", "/resources/{resourceId}/storage-attachments", RESOURCE, "storage-volumes"),
    ("DELETE", "/resources/{resourceId}/storage-attachments/{attachmentId}", RESOURCE,
     "storage-volumes"),
    ("GET", "/resources/{resourceId}/dependency-bindings", RESOURCE, "dependency-bindings"),
    ("POST", "/resources/{resourceId}/dependency-bindings", RESOURCE, "dependency-bindings"),
    ("GET", "/resources/{resourceId}/dependency-bindings/{bindingId}", RESOURCE,
     "dependency-bindings"),
    ("DELETE", "/resources/{resourceId}/dependency-bindings/{bindingId}", RESOURCE,
     "dependency-bindings"),
    ("POST", "/resources/{resourceId}/dependency-bindings/{bindingId}/secret-rotations",
     RESOURCE, "dependency-bindings"),
    ("DELETE", "/resources/{resourceId}/preview-environments/{previewEnvironmentId}", RESOURCE,
     "preview-environments"),
    ("POST", "/deployments/cleanup-preview", DEPLOYMENT, "preview-environments"),
    ("POST", "/deployments/prune", DEPLOYMENT, "deployment-prune"),
    ("POST", "/deployments/logs/prune", DEPLOYMENT, "deployment-prune"),
    ("POST", "/audit-events/prune", AUDIT, "audit-retention"),
    ("GET", "/audit-events/archives", AUDIT, "audit-retention"),
    ("POST", "/audit-events/archives", AUDIT, "audit-retention"),
    ("GET", "/audit-events/archives/{archiveId}", AUDIT, "audit-retention"),
    ("POST", "/audit-events/archives/prune", AUDIT, "audit-retention"),
    ("GET", "/audit-events/legal-holds", AUDIT, "audit-retention"),
    ("POST", "/audit-events/legal-holds", AUDIT, "audit-retention"),
    ("GET", "/audit-events/legal-holds/{holdId}", AUDIT, "audit-retention"),
    ("POST", "/audit-events/legal-holds/{holdId}/release", AUDIT, "audit-retention"),
]


def _name(method: str, path: str) -> str:
    """An operation id part from the route: GET /servers/capacity/policies/{policyId} ->
    get_servers_capacity_policies_policyid."""
    words = path.strip("/").replace("-", "_").translate(str.maketrans("", "", "{}")).lower()
    return "_".join([method.lower(), *words.split("/")])


def unsupported(method: str, path: str, feature: str) -> Endpoint:
    message = f"not supported here ({feature}): {FEATURES[feature]}"

    async def endpoint(request: Request) -> Response:
        raise ApiError(403, {"feature": [feature]}, message)

    return named(endpoint, __name__, _name(method, path))


def _route(method: str, path: str, tag: str, feature: str) -> DocumentedRoute:
    return route(method, path, unsupported(method, path, feature), Op(
        tag, f"Not served: {feature}", 403, None, (403,), flat=True,
        description=f"403 forbidden, details.feature `{feature}`: {FEATURES[feature]}."))


ROUTES = [_route(*row) for row in _TABLE]
