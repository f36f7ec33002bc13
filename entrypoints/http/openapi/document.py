"""build_openapi(): the OpenAPI 3.1 document of every admin and agent route.

Paths, methods, path parameters, list query parameters and request bodies are read from the code
(API_ROUTES, agent.ROUTES, each endpoint's ListSpec, the msgspec input structs), so the document
cannot drift from what the service accepts. Regenerate the committed copy with
`python -m entrypoints.http.openapi.document > schemas/openapi.json`; a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import json
import sys
from datetime import UTC, datetime
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any, cast

import msgspec
from starlette.requests import Request
from starlette.routing import Route

from application.agent_protocol import EnrollNode, Heartbeat, ReregisterNode
from application.aliases import CreateAlias
from application.clusters import CreateCluster, UpdateCluster
from application.enrollment_keys import IssueEnrollmentKey, UpdateEnrollmentKey
from application.nodes import ChangeCluster
from application.webhooks import CreateWebhook
from domain.catalog import EVENT_TYPES
from entrypoints.http import (
    admin_metrics_shapes,
    admins,
    agent,
    agent_deployments,
    agent_health,
    agent_runtime_logs,
    agent_work,
    aliases,
    app_hosting,
    appaloft_views,
    apps,
    attempt_events,
    attempt_logs,
    attempt_readiness,
    attempt_views,
    audit_events,
    clusters,
    command_executions,
    deliveries,
    edgegap_shapes,
    enrollment_keys,
    environments,
    event_types,
    events,
    node_metrics,
    nodes,
    projects,
    resource_health_views,
    resources,
    runtime_control_views,
    runtime_controls,
    runtime_logs,
    serializers,
    servers,
    ssh,
    variables,
    webhooks,
)
from entrypoints.http.app import API_ROUTES
from entrypoints.http.errors import is_edgegap
from entrypoints.http.listing import (
    ListSpec,
    Param,
    parse_bool,
    parse_event_type,
    parse_int,
    parse_text,
    parse_uuid,
)
from entrypoints.http.openapi import admins as oadm
from entrypoints.http.openapi import agent_work as owork
from entrypoints.http.openapi import appaloft as oapp
from entrypoints.http.openapi import commands as ocmd
from entrypoints.http.openapi import deployments as odep
from entrypoints.http.openapi import events as oev
from entrypoints.http.openapi import resource_runtime as oruntime
from entrypoints.http.openapi import schemas as oas
from entrypoints.http.openapi import ssh as ossh
from entrypoints.http.openapi.op import (
    AGENT,
    AGENT_TAG,
    ALIAS,
    CLUSTER,
    EVENT,
    EVENT_TYPE,
    KEY,
    NODE,
    NODE_TOKEN,
    PUBLIC,
    WEBHOOK,
    Op,
)
from entrypoints.http.routing import DocumentedRoute
from entrypoints.settings import Settings

SAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DATE_OR_TIME: oas.Schema = {"type": "string",
                             "anyOf": [{"format": "date-time"}, {"format": "date"}]}


def _enrollment_key_spec() -> ListSpec:
    """enrollment_keys.spec() reads the clock only for is_expired; any instant names the params."""
    clock = SimpleNamespace(now=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    state = SimpleNamespace(services=SimpleNamespace(writes=SimpleNamespace(clock=clock)))
    return enrollment_keys.spec(cast(Request, SimpleNamespace(app=SimpleNamespace(state=state))))


_GET, _POST, _PATCH, _DELETE = "GET", "POST", "PATCH", "DELETE"
OPERATIONS: dict[tuple[str, str], Op] = {
    (_POST, "/api/v1/clusters"): Op(
        CLUSTER, "Create a new cluster", 201, "Cluster", (400, 409, 422, 503), CreateCluster,
        description="Create a new edge cluster with optional IP range. The name `default` is"
        " reserved (used as a URL keyword on convenience routes) and is rejected with 422."),
    (_GET, "/api/v1/clusters"): Op(
        CLUSTER, "List all clusters", 200, "Cluster", (400,), listing=clusters.SPEC),
    (_GET, "/api/v1/clusters/{name}"): Op(
        CLUSTER, "Get a specific cluster", 200, "Cluster", (400, 404)),
    (_PATCH, "/api/v1/clusters/{name}"): Op(
        CLUSTER, "Update a cluster", 200, "Cluster", (400, 404, 422, 503), UpdateCluster),
    (_DELETE, "/api/v1/clusters/{name}"): Op(
        CLUSTER, "Delete a cluster", 204, None, (400, 404, 409, 503),
        description="Delete an empty cluster (must have no nodes)."),
    (_POST, enrollment_keys.PUBLIC_PATH): Op(
        KEY, "Get a public enrollment key for the default cluster", 201, "EnrollmentKey",
        (403, 404, 503), security=PUBLIC,
        description="Public endpoint (no authentication required). Only enabled when both"
        " PUBLIC_ENROLLMENT_KEY_ENABLED=true and DEFAULT_CLUSTER_NAME are configured."),
    (_POST, "/api/v1/clusters/default/enrollment_keys"): Op(
        KEY, "Create an enrollment key for the default cluster", 201, "EnrollmentKey",
        (400, 403, 404, 422, 503), IssueEnrollmentKey,
        description="Convenience endpoint for the default cluster (DEFAULT_CLUSTER_NAME)."),
    (_POST, "/api/v1/clusters/{cluster_name}/enrollment_keys"): Op(
        KEY, "Create an enrollment key for a cluster", 201, "EnrollmentKey",
        (400, 404, 422, 503), IssueEnrollmentKey,
        description="Set the returned key blob as ENROLLMENT_KEY on the agent. Keys can be"
        " limited by use count (uses_remaining) or by expiry time (expired_at). Omit both for"
        " a single-use key with no expiry."),
    (_GET, "/api/v1/enrollment_keys"): Op(
        KEY, "List enrollment keys", 200, "EnrollmentKey", (400,), listing=_enrollment_key_spec()),
    (_GET, "/api/v1/enrollment_keys/{id}"): Op(
        KEY, "Get an enrollment key", 200, "EnrollmentKey", (400, 404)),
    (_PATCH, "/api/v1/enrollment_keys/{id}"): Op(
        KEY, "Update an enrollment key", 200, "EnrollmentKey", (400, 404, 422, 503),
        UpdateEnrollmentKey),
    (_DELETE, "/api/v1/enrollment_keys/{id}"): Op(
        KEY, "Delete an enrollment key", 204, None, (400, 404, 503)),
    (_GET, "/api/v1/nodes"): Op(NODE, "List all nodes", 200, "Node", (400,), listing=nodes.SPEC),
    (_GET, "/api/v1/nodes/{id}"): Op(NODE, "Get a specific node", 200, "Node", (400, 404)),
    (_DELETE, "/api/v1/nodes/{id}"): Op(
        NODE, "Delete a node", 204, None, (400, 404, 503),
        description="Delete a node; its aliases are deleted with it."),
    (_PATCH, "/api/v1/nodes/{id}/change_cluster"): Op(
        NODE, "Change a node's cluster", 200, "Node", (400, 404, 409, 422, 503), ChangeCluster,
        description="Move a node (and its aliases) to another cluster. 409 when the target is"
        " at its node_limit or one of the node's alias names is taken there."),
    (_POST, "/api/v1/nodes/{node_id}/aliases"): Op(
        ALIAS, "Create a new alias for a node", 201, "Alias", (400, 404, 409, 422, 503),
        CreateAlias),
    (_GET, "/api/v1/aliases"): Op(
        ALIAS, "List all aliases", 200, "Alias", (400,), listing=aliases.SPEC),
    (_GET, "/api/v1/aliases/{id}"): Op(ALIAS, "Get a specific alias", 200, "Alias", (400, 404)),
    (_DELETE, "/api/v1/aliases/{id}"): Op(ALIAS, "Delete an alias", 204, None, (400, 404, 503)),
    (_GET, "/api/v1/event_types"): Op(
        EVENT_TYPE, "List event types", 200, "EventTypes", (),
        description="Returns the full catalog of event types, in catalog order. Every value is"
        " valid in a webhook's subscribed_events; see /asyncdoc for each payload."),
    (_POST, "/api/v1/webhooks"): Op(
        WEBHOOK, "Create webhook", 201, "Webhook", (400, 422, 503), CreateWebhook,
        description=oev.WEBHOOK_DESCRIPTION),
    (_GET, "/api/v1/webhooks"): Op(
        WEBHOOK, "List webhooks", 200, "Webhook", (400,), listing=webhooks.SPEC),
    (_GET, "/api/v1/webhooks/{id}"): Op(WEBHOOK, "Get webhook", 200, "Webhook", (400, 404)),
    (_DELETE, "/api/v1/webhooks/{id}"): Op(
        WEBHOOK, "Delete webhook", 204, None, (400, 404, 503),
        description="Permanently delete a webhook; deliveries still queued for it end as"
        " failed."),
    (_GET, "/api/v1/events"): Op(
        EVENT, "List stored events", 200, "Event", (400,), listing=events.SPEC,
        description=oev.EVENTS_DESCRIPTION),
    (_GET, "/api/v1/events/stream"): Op(
        EVENT, "Stream events (Server-Sent Events)", 200, None, (400,), stream=True,
        description=oev.STREAM_DESCRIPTION),
    (_GET, "/api/v1/webhooks/{id}/deliveries"): Op(
        WEBHOOK, "List a webhook's deliveries", 200, "WebhookDelivery", (400, 404),
        listing=deliveries.SPEC,
        description="Newest first. Each delivery has a fixed webhook-id and body; attempts are"
        " retried on network errors, 408, 429 and 5xx up to WEBHOOK_MAX_ATTEMPTS."),
    (_POST, "/agent/v1/enroll"): Op(
        AGENT, "Enroll a node with an enrollment key", 201, "AgentEnrollment",
        (400, 401, 403, 409, 422, 503), EnrollNode, security=PUBLIC, also=(200,),
        description="Consumes one use of the key. 201 for a new node; 200 when a persistent"
        " node re-enrolls. 401: unknown key; 403: key expired, spent or its cluster deleted;"
        " 409: the cluster is at its node_limit."),
    (_POST, "/agent/v1/register"): Op(
        AGENT, "Re-register a node after a restart", 200, "AgentNode", (400, 404, 422, 503),
        ReregisterNode, security=NODE_TOKEN),
    (_POST, "/agent/v1/heartbeat"): Op(
        AGENT, "Report the node's liveness", 200, "AgentHeartbeat", (400, 404, 422, 503),
        Heartbeat, security=NODE_TOKEN),
}




def build_openapi() -> dict[str, Any]:
    """The whole document as plain JSON values (a fresh copy on every call)."""
    paths: dict[str, dict[str, Any]] = {}
    for route, method, op in _documented():
        paths.setdefault(route.path, {})[method.lower()] = _operation(route, op, method)
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    if stale := OPERATIONS.keys() - documented:
        raise LookupError(f"{__name__} documents routes that do not exist: {stale}")
    tags = [*oadm.TAGS, CLUSTER, KEY, NODE, ALIAS, *oadm.NODE_TAGS, *ocmd.TAGS, *ossh.TAGS,
            EVENT_TYPE, WEBHOOK, EVENT, *odep.TAGS, *oapp.TAGS, AGENT]
    document = {
        "openapi": "3.1.0",
        "info": oas.INFO,
        "tags": [{"name": t, "description": AGENT_TAG if t == AGENT else ""} for t in tags],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": _components(),
            "responses": oas.error_responses(),
            "headers": {"RequestId": {"schema": oas.STR, "description": "Equals meta.request_id;"
                                      " a sane incoming x-request-id is echoed"}},
            "securitySchemes": oas.SECURITY_SCHEMES,
        },
    }
    result: dict[str, Any] = json.loads(json.dumps(document))  # tuples to lists, no shared dicts
    return result


def _documented() -> list[tuple[Route, str, Op]]:
    """Every route of the API and the agent with its method and Op (declared beside it)."""
    routes = [*API_ROUTES, *agent.ROUTES, *agent_work.ROUTES, *agent_deployments.ROUTES,
              *agent_health.ROUTES, *agent_runtime_logs.ROUTES]
    out: list[tuple[Route, str, Op]] = []
    for route in [r for r in routes if isinstance(r, Route)]:
        if isinstance(route, DocumentedRoute):
            out.append((route, route.method, route.op))
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            op = OPERATIONS.get((method, route.path))
            if op is None:
                raise LookupError(f"{method} {route.path}: add it to {__name__}")
            out.append((route, method, op))
    return out


def _operation(route: Route, op: Op, method: str) -> dict[str, Any]:
    endpoint = cast(Any, route.endpoint)
    # Every write goes through the write path, which answers 503 while the read model is stuck
    # or has not caught up in time (README "When the read model cannot go on").
    writes = {503} if method != "GET" else set()
    errors = sorted(set(op.errors) | writes | ({401} if op.security != PUBLIC else set()))
    doc: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": f"{endpoint.__module__.rsplit('.', 1)[-1]}_{endpoint.__name__}",
        "parameters": [*_path_params(route, op), *_query_params(route.path, op.listing),
                       *_query_struct_params(op.query)],
        "responses": {
            **{str(status): _success(op, status) for status in (op.status, *op.also)},
            **{str(s): _error(route.path, s) for s in errors},
        },
    }
    if op.description:
        doc["description"] = op.description
    if op.security is not None:
        doc["security"] = op.security
    if op.body is not None:
        component = _body_docs()[op.body.__name__][0]
        content = {"application/json": {"schema": oas.ref(component)}}
        required = any(f.required for f in msgspec.structs.fields(op.body))
        doc["requestBody"] = {"required": required, "content": content}
    return doc


def _error(path: str, status: int) -> dict[str, Any]:
    if path == "/deployments/app-hosting" and status in (413, 422):  # Mengi's FastAPI errors
        schema = "HTTPValidationErrorResponse" if status == 422 else "HTTPErrorResponse"
        return {"description": "Validation Error" if status == 422 else HTTPStatus(status).phrase,
                "content": {"application/json": {"schema": oas.ref(schema)}}}
    if not is_edgegap(path):
        return {"$ref": f"#/components/responses/{oas.ERRORS[status][0]}"}
    # Edgegap's own error bodies; its 422 is "Couldn't Allocate Server" and nothing else.
    schema = "AllocationErrorResponse" if status == 422 else "ErrorMessageResponse"
    return {"description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": oas.ref(schema)}}}


def _success(op: Op, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": HTTPStatus(status).phrase,
                                "headers": oas.REQUEST_ID_HEADER}
    if op.stream:
        stream = {"type": "string", "description": "Server-Sent Events (see the description)"}
        response["content"] = {"text/event-stream": {"schema": stream}}
    if op.data is not None:
        wrapper = "Paginated" if op.listing is not None else "Single"
        schema = oas.ref(f"{op.data}{'' if op.flat else wrapper}Response")
        response["content"] = {"application/json": {"schema": schema}}
    return response


def _path_params(route: Route, op: Op) -> list[dict[str, Any]]:
    params = []
    for name in route.param_convertors:
        schema, text = {**oas.PATH_PARAMS, **ossh.PATH_PARAMS, **odep.PATH_PARAMS,
                        **oapp.PATH_PARAMS, **oruntime.PATH_PARAMS}[name]
        if name == "id":
            text = {**oas.ID_DOCS, **oev.ID_DOCS, **ocmd.ID_DOCS, **ossh.ID_DOCS}.get(
                op.tag, text)
        params.append({"name": name, "in": "path", "required": True, "description": text,
                       "schema": schema})
    return params


def _query_params(path: str, spec: ListSpec | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    docs = {**oas.QUERY_DOCS, **oev.QUERY_DOCS, **ocmd.QUERY_DOCS, **ossh.QUERY_DOCS,
            **odep.QUERY_DOCS}[path]
    params = [_filter_param(p, docs.get(p.name)) for p in spec.params]
    return sorted([*params, *_paging_params(spec)], key=lambda p: str(p["name"]))


def _query_struct_params(query: type[msgspec.Struct] | None) -> list[dict[str, Any]]:
    """A query string Struct's fields as parameters: msgspec's schema of each, its description
    lifted to the parameter, and a default only where the endpoint applies it."""
    if query is None:
        return []
    _, components = msgspec.json.schema_components([query])
    schema = components[query.__name__]
    params = []
    for name, field in schema["properties"].items():
        text = field.pop("description", name)
        params.append({"name": name, "in": "query", "required": name in schema["required"],
                       "description": text, "schema": field})
    return params


def _filter_param(param: Param, text: str | None) -> dict[str, Any]:
    schema, example = _param_schema(param)
    if text is None and param.name.endswith(("__gte", "__lte")):
        column, low = param.name[:-5], param.name.endswith("__gte")
        if schema is DATE_OR_TIME:
            edge, day = ("on or after", "start") if low else ("on or before", "end")
            text = (f"Filter records where {column} is {edge} this datetime (ISO 8601 datetime;"
                    f" date-only is treated as {day} of day UTC)")
        else:
            text = f"Filter by {'minimum' if low else 'maximum'} {column}"
    # Swagger UI fills "Try it out" with a parameter's example, which would then filter every
    # call; JSON Schema's `examples` is shown but never sent.
    return {"name": param.name, "in": "query", "required": False,
            "description": text or f"Filter by {param.name}",
            "schema": {**schema, "examples": [example]}}


def _param_schema(param: Param) -> tuple[oas.Schema, Any]:
    """The schema and an accepted example value, from the parser the endpoint really uses."""
    known = {parse_int: (oas.INT, 1), parse_bool: (oas.BOOL, True),
             parse_uuid: (oas.UUID_S, SAMPLE_UUID),
             parse_text: ({"type": "string", "minLength": 1},
                          oas.QUERY_EXAMPLES.get(param.name, "example")),
             parse_event_type: (oev.TYPE_ENUM, EVENT_TYPES[0]),
             events.parse_event_types: (oev.TYPES_CSV, EVENT_TYPES[0])}
    if param.parse in known:
        return known[param.parse]
    allowed = inspect.getclosurevars(param.parse).nonlocals.get("allowed")
    if allowed:  # listing.one_of
        return {"type": "string", "enum": list(allowed)}, allowed[0]
    try:
        probe = param.parse("2025-06-09")
    except ValueError:
        probe = None
    if isinstance(probe, datetime):  # listing.time_range
        return DATE_OR_TIME, "2025-06-09"
    raise TypeError(f"query parameter {param.name}: teach {__name__} its parser")


def _paging_params(spec: ListSpec) -> list[dict[str, Any]]:
    default = ", ".join(f"{o.column} {('asc', 'desc')[o.descending]}" for o in spec.default_order)
    query = {"in": "query", "required": False}
    csv = {**query, "style": "form", "explode": False}
    paging = [
        {"name": "page", **query, "description": "Page number (1-indexed)",
         "schema": {**oas.INT, "minimum": 1, "default": 1}},
        {"name": "page_size", **query, "schema": {**oas.INT, "minimum": 1, "default": 20},
         "description": f"Items per page (at most MAX_PAGE_SIZE, {Settings.max_page_size} unless"
         " configured)"},
    ]
    if not spec.sortable:  # a fixed order (newest first): no sort parameters
        return paging
    return [
        *paging,
        {"name": "order_by", **csv,
         "description": f"Comma-separated list of fields to sort by (default: {default})",
         "schema": {"type": "array", "items": {"type": "string", "enum": list(spec.sortable)},
                    "examples": [[spec.sortable[0]]]}},
        {"name": "order_directions", **csv,
         "description": "Comma-separated list of sort directions (asc/desc) corresponding to"
         " order_by fields; missing entries are asc, extra entries are a 400",
         "schema": {"type": "array", "items": {"type": "string", "enum": ["asc", "desc"]},
                    "examples": [["desc"]]}},
    ]


def _envelopes() -> dict[str, oas.Schema]:
    out = {}
    for _, _, op in _documented():
        if op.data is not None and op.listing is not None:
            out[f"{op.data}PaginatedResponse"] = oas.paginated(op.data)
        elif op.data is not None and not op.flat:
            out[f"{op.data}SingleResponse"] = oas.single(op.data)
    return out


def _request_bodies() -> dict[str, oas.Schema]:
    """msgspec's schemas of the input structs, renamed to the seed's names and described."""
    structs = list(dict.fromkeys(op.body for _, _, op in _documented() if op.body is not None))
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}")
    for struct in structs:
        schema = components.pop(struct.__name__)
        if f'"#/components/schemas/{struct.__name__}"' in json.dumps(components):
            raise ValueError(f"{struct.__name__} is nested in another body; it cannot be renamed")
        name, fields = _body_docs()[struct.__name__]
        for field, text in fields.items():
            schema["properties"][field]["description"] = text
        components[name] = {**schema, "title": name}
    return components


def _response_shapes() -> dict[str, oas.Schema]:
    """The typed responses' schemas, from the classes the handlers return."""
    shapes = (*serializers.SHAPES, *webhooks.SHAPES, *deliveries.SHAPES, *admins.SHAPES,
              *admin_metrics_shapes.SHAPES, *node_metrics.SHAPES, *agent.SHAPES,
              *agent_work.SHAPES, *ssh.SHAPES, *command_executions.SHAPES,
              *appaloft_views.SHAPES, *projects.SHAPES, *environments.SHAPES,
              *variables.SHAPES, *servers.SHAPES, *resources.SHAPES, *attempt_readiness.SHAPES,
              *attempt_views.SHAPES, *attempt_events.SHAPES, *attempt_logs.SHAPES,
              *audit_events.SHAPES, *resource_health_views.SHAPES, *agent_health.SHAPES,
              *audit_events.SHAPES, *runtime_controls.SHAPES, *runtime_control_views.SHAPES,
              *runtime_logs.SHAPES,
              *edgegap_shapes.SHAPES, *app_hosting.SHAPES, *apps.SHAPES,
              *agent_deployments.SHAPES, *agent_runtime_logs.SHAPES)
    named = {**admins.NAMED, **event_types.NAMED}  # not objects: their component names
    schemas, components = msgspec.json.schema_components(
        [*shapes, *named.values()], ref_template="#/components/schemas/{name}")
    components.update(zip(named, schemas[len(shapes):], strict=True))
    return components


def _components() -> dict[str, oas.Schema]:
    """Every schema; one name never stands for two different schemas."""
    out: dict[str, oas.Schema] = {}
    for part in (_request_bodies(), _response_shapes(), oev.event_components(), _envelopes(),
                 oas.ENVELOPE):
        for name, schema in part.items():
            if out.setdefault(name, schema) != schema:
                raise ValueError(f"{__name__}: two different schemas are named {name}")
    return {**out, **ocmd.targeting_components()}  # the same structs, with the seed's wording


def _body_docs() -> dict[str, tuple[str, dict[str, str]]]:
    return {**oas.BODY_DOCS, **oev.BODY_DOCS, **ocmd.BODY_DOCS, **owork.BODY_DOCS,
            **ossh.BODY_DOCS, **oadm.BODY_DOCS, **odep.BODY_DOCS, **oapp.BODY_DOCS,
            **oruntime.BODY_DOCS}


def main() -> None:
    json.dump(build_openapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
