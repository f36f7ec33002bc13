"""OpenAPI wording for Commands.Command, Commands.CommandExecution and SelfUpdates.Request."""

from __future__ import annotations

import msgspec

from domain.targeting import Targeting
from entrypoints.http.openapi.schemas import Schema

COMMAND, EXECUTION, SELF_UPDATE = (
    "Commands.Command", "Commands.CommandExecution", "SelfUpdates.Request")
TAGS = [COMMAND, EXECUTION, SELF_UPDATE]
# The nested targeting structs become their own components (msgspec names them after the
# structs); the seed's field wording is added here so the constraints still come from the code.
_CLUSTER_FILTER = "Filter by cluster name (exact match or wildcard: prod*, *staging, etc.)"
TARGETING_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "Targeting": ("Targeting specification (shared by commands and self-update requests)", {
        "type": "Targeting strategy: 'all' for all nodes, 'nodes' for specific nodes,"
        " 'clusters' for specific clusters",
        "node_ids": "Array of node IDs (required when type is 'nodes', refused otherwise)"
        " (will always be deduplicated). Unknown IDs match nothing.",
        "cluster_names": "Array of cluster names (required when type is 'clusters', refused"
        " otherwise) (will always be deduplicated). Unknown names match nothing.",
        "node_filters": "Optional filters to apply to target nodes (AND logic with"
        " cluster_filters). Same meaning as the node list filters.",
        "cluster_filters": "Optional filters to apply to target clusters (AND logic with"
        " node_filters). Same meaning as the cluster list filters.",
    }),
    "NodeFilters": ("Node list filters usable in targeting; unknown keys are a 422", {
        "cluster_name": _CLUSTER_FILTER,
        "id_type": "Filter by node ID type",
        "inserted_at__gte": "Filter nodes inserted after or on this date",
        "inserted_at__lte": "Filter nodes inserted before or on this date",
        "last_seen_at__gte": "Filter nodes last seen after or on this datetime",
        "last_seen_at__lte": "Filter nodes last seen before or on this datetime",
        "updated_at__gte": "Filter nodes updated after or on this datetime",
        "updated_at__lte": "Filter nodes updated before or on this datetime",
        "self_update_enabled": "Filter by self-update enabled status",
        "status": "Filter by node status",
        "version": "Filter by node version (exact match or wildcard: 1.0.0, 1.*, etc.)",
    }),
    "ClusterFilters": ("Cluster list filters usable in targeting (a node matches when its"
                       " cluster does); unknown keys are a 422", {
        "has_node_limit": "Filter clusters that have (true) or do not have (false) a node"
        " limit set",
        "inserted_at__gte": "Filter clusters inserted after or on this date",
        "inserted_at__lte": "Filter clusters inserted before or on this date",
        "updated_at__gte": "Filter clusters updated after or on this datetime",
        "updated_at__lte": "Filter clusters updated before or on this datetime",
        "ipv4_range": "Filter by IPv4 range (CIDR notation; exact match or wildcard)",
        "name": _CLUSTER_FILTER,
        "node_count": "Filter by exact node count",
        "node_count__gte": "Filter by node count greater than or equal to",
        "node_count__lte": "Filter by node count less than or equal to",
    }),
}
_MOMENT_NOTE = " (ISO 8601 datetime or date; a date-only __lte covers the whole day, UTC)"


def targeting_components() -> dict[str, Schema]:
    """The targeting structs' schemas with the seed's wording (request bodies nest them)."""
    _, found = msgspec.json.schema_components(
        [Targeting], ref_template="#/components/schemas/{name}")
    out = {}
    for name, (description, fields) in TARGETING_DOCS.items():
        schema = found[name]
        if undocumented := set(schema["properties"]) - set(fields):
            raise LookupError(f"{name}: describe {sorted(undocumented)} in TARGETING_DOCS")
        for field, text in fields.items():
            prop = schema["properties"][field]
            if field.endswith(("at__gte", "at__lte")):
                prop["anyOf"] = [{"type": "string", "format": "date-time"},
                                 {"type": "string", "format": "date"}, {"type": "null"}]
                text += _MOMENT_NOTE
            prop["description"] = text
        out[name] = {**schema, "description": description}
    return out


# Shared by commands and self-update requests.
TARGETS = ("Targeting types: 'all' (all nodes), 'nodes' (node_ids) or 'clusters'"
            " (cluster_names), each refined by node_filters and cluster_filters (AND). Targets"
            " are resolved once, when the order is created; nodes that join later are not"
            " targeted. Unknown node ids and cluster names match nothing (not an error).")
ID_DOCS = {COMMAND: "Command ID", EXECUTION: "Command Execution ID",
           SELF_UPDATE: "Self-update request ID"}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "CreateCommand": ("CommandCreateRequest", {
        "command_text": "Multi-line shell script/commands to execute (run with /bin/sh)",
        "targeting": "Which nodes receive the command (resolved once, at creation)",
        "timeout": "Command timeout in milliseconds (optional, null or omitted means no"
        " timeout, must be > 0)",
        "expired_at": "RFC 3339 datetime (UTC when no offset is given). Deadline after which"
        " pending/sent executions are automatically expired. Must be in the future."
        " Immutable after creation.",
    }),
    "CreateSelfUpdateRequest": ("SelfUpdateRequestCreateRequest", {
        "targeting": "Which nodes to update (same format as commands)",
    }),
}
