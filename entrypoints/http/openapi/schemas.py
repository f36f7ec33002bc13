"""Hand-written parts of the OpenAPI document: the seed's wording (info, security schemes, shared
query phrases, path and body docs) and the envelopes and errors every answer shares. Response
bodies bring their own schemas (the shapes beside their routes and in
entrypoints/http/serializers.py); tests/e2e/test_openapi_document.py validates real responses
against the document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.cluster import MAX_NAME
from domain.shared import DNS_LABEL_PATTERN

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
UUID_S: Schema = {"type": "string", "format": "uuid"}
TIME: Schema = {"type": "string", "format": "date-time"}
CLUSTER_NAME: Schema = {"type": "string", "maxLength": MAX_NAME, "pattern": DNS_LABEL_PATTERN}
INFO = {
    "title": "Edge Admin OpenAPI", "version": "0.2.0",
    "description": "REST API for Edge Admin — the orchestration server for Edge Core.\n\n"
    "Most endpoints require an API key (`Authorization: Bearer <API_KEY>` or `<MASTER_KEY>`)."
    " An empty per-operation `security` array means the endpoint is unauthenticated by design.",
}
SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer",
               "description": "API key for REST API access (API_KEY or MASTER_KEY)"},
    "nodeToken": {"type": "http", "scheme": "bearer",
                  "description": "The node's api_token, returned by /agent/v1/enroll"},
}
REQUEST_ID_HEADER = {"x-request-id": {"$ref": "#/components/headers/RequestId"}}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    widened = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def doc(schema: Schema, text: str) -> Schema:
    return {**schema, "description": text}


def obj(description: str, **props: Schema) -> Schema:
    """A closed object whose every property is always present, as the serializers emit them."""
    return {"type": "object", "description": description, "properties": props,
            "required": list(props), "additionalProperties": False}


def single(name: str) -> Schema:
    return obj(f"One {name} with response metadata", data=ref(f"{name}Response"), meta=ref("Meta"))


def paginated(name: str, more_meta: Mapping[str, Schema] | None = None) -> Schema:
    items = {"type": "array", "items": ref(f"{name}Response")}
    meta = ref("PaginatedMeta")
    if more_meta:
        meta = obj("Response metadata of this list", pagination=ref("Pagination"),
                   request_id=_REQUEST_ID, timestamp=_STAMP, **more_meta)
    return obj(f"Paginated list of {name} with metadata", data=items, meta=meta)


_REQUEST_ID = doc(STR, "Unique request identifier (mirrors x-request-id response header)")
_STAMP = doc(TIME, "ISO 8601 UTC timestamp of when the response was generated")

ENVELOPE: dict[str, Schema] = {
    "Meta": obj("Response metadata", request_id=_REQUEST_ID, timestamp=_STAMP),
    "PaginatedMeta": obj("Response metadata of a list", pagination=ref("Pagination"),
                         request_id=_REQUEST_ID, timestamp=_STAMP),
    "Pagination": obj(
        "Where this page sits in the whole list",
        has_next=doc(BOOL, "Whether a next page exists"),
        has_prev=doc(BOOL, "Whether a previous page exists"),
        next_page=doc(nullable(INT), "Next page number, null when on the last page"),
        page=doc(INT, "Current page number"),
        page_size=doc(INT, "Items per page"),
        prev_page=doc(nullable(INT), "Previous page number, null when on the first page"),
        total_count=doc(INT, "Total number of items"),
        total_pages=doc(INT, "Total number of pages"),
    ),
    "ErrorResponse": obj(
        "Every error: a stable code, a message and per-field details",
        error=obj("What went wrong", code=STR, message=STR, details=doc(
            {"type": ["object", "null"], "additionalProperties": {"type": "array", "items": STR}},
            "Field name to list of messages; null when there is nothing to add")),
        meta=ref("Meta"),
    ),
}

# status -> (components/responses name, error.code, error.message, when)
ERRORS: dict[int, tuple[str, str, str, str]] = {
    400: ("BadRequest", "bad_request", "Invalid request parameters",
          "Malformed path or query parameter, or a body that is not a JSON object"),
    401: ("Unauthorized", "unauthorized", "Missing or invalid credentials",
          "Missing or unknown bearer token"),
    403: ("Forbidden", "forbidden", "Insufficient permissions",
          "Switched off by configuration, or a feature this service does not have"
          " (details.feature names it)"),
    404: ("NotFound", "not_found", "Resource not found", "The addressed resource does not exist"),
    409: ("Conflict", "conflict", "Resource already exists",
          "The name is taken or the resource is in a conflicting state"),
    422: ("ValidationFailed", "validation_failed", "Validation failed", "The body is invalid"),
    503: ("ServiceUnavailable", "service_unavailable", "Downstream dependency unreachable",
          "A dependency is unreachable or the read model did not catch up in time"),
}


def error_responses() -> dict[str, Any]:
    """components/responses: one entry per error status, all with the ErrorResponse body."""
    meta = {"request_id": "550e8400-e29b-41d4-a716-446655440000",
            "timestamp": "2026-04-15T10:00:00.000Z"}
    out = {}
    for name, code, message, when in ERRORS.values():
        example = {"error": {"code": code, "message": message, "details": None}, "meta": meta}
        content = {"schema": ref("ErrorResponse"), "example": example}
        out[name] = {"description": when, "headers": REQUEST_ID_HEADER,
                     "content": {"application/json": content}}
    return out


# Query parameter wording from the seed (its lost `*` wildcards restored) sits in each list's
# ListSpec.docs, beside its route; these phrases are shared by several lists.
CLUSTER_FILTER = "Filter by cluster name (exact match or wildcard: `prod*`, `*east`, etc.)"


def wildcard(examples: str) -> str:
    return f"(exact match or wildcard: {examples})"


def has_filter(what: str, items: str, having: str) -> str:
    return (f"Filter by whether {what} is set: true returns {items} with {having}, false"
            f" returns {items} without")


QUERY_EXAMPLES = {"name": "prod*", "cluster_name": "prod-*", "version": "1.*",
                  "ipv4_range": "100.64.*"}

# Path parameters: (schema, description); `id` is described per tag.
PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "name": (CLUSTER_NAME, "Cluster name"), "cluster_name": (CLUSTER_NAME, "Cluster name"),
    "node_id": (UUID_S, "Node ID"), "id": (UUID_S, "ID"),
}
ID_DOCS = {"Nodes.EnrollmentKey": "Enrollment key ID", "Nodes.Node": "Node ID",
           "Nodes.Alias": "Alias ID"}

_KEEP = " Omit to leave unchanged."
# Request bodies: input struct name -> (component name in the document, field descriptions).
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateCluster": ("ClusterCreateRequest", {
        "name": "Cluster name — primary identifier (max 24 chars, lowercase alphanumeric +"
        " hyphens); `default` is reserved",
        "ipv4_range": "IPv4 CIDR range (auto-generated if not provided)",
        "node_limit": "Maximum nodes allowed in this cluster (null means no limit enforced)",
    }),
    "UpdateCluster": ("ClusterUpdateRequest", {
        "node_limit": "Maximum nodes allowed, or null to remove the limit." + _KEEP,
    }),
    "IssueEnrollmentKey": ("EnrollmentKeyCreateRequest", {
        "expired_at": "Expiry datetime (ISO 8601). Omit or pass null for no expiry.",
        "name": "Optional human-readable label for this key. Display only — not used for lookup.",
        "uses_remaining": "Number of uses (must be >= 1). Pass null for unlimited. Omit to use"
        " the default of 1.",
    }),
    "UpdateEnrollmentKey": ("EnrollmentKeyUpdateRequest", {
        "expired_at": "Expiry datetime (ISO 8601), or null to remove expiry." + _KEEP,
        "name": "Human-readable label for this key, or null to clear." + _KEEP,
        "uses_remaining": "Positive integer to set a use limit, or null to make the key"
        " unlimited." + _KEEP,
    }),
    "ChangeCluster": ("ChangeClusterRequest", {
        "cluster_name": "Name of the target cluster to move this node to.",
    }),
    "CreateAlias": ("CreateAliasRequest", {
        "name": "Alias name (lowercase alphanumeric with hyphens)",
    }),
    "EnrollNode": ("AgentEnrollRequest", {
        "enrollment_key": "The key blob of an enrollment key (the agent's ENROLLMENT_KEY)",
        "node_id": "The node's own id; kept only with id_type persistent",
    }),
    "ReregisterNode": ("AgentRegisterRequest", {}),
    "Heartbeat": ("AgentHeartbeatRequest", {
        "status": "healthy, or unhealthy when the agent's own checks fail",
    }),
}
