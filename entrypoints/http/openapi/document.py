"""build_openapi(): the OpenAPI 3.1 document of every admin and agent route.

Paths, methods, path parameters, list query parameters and request bodies are read from the code
(API_ROUTES, AGENT_ROUTES, the Op each route module declares beside its route, each endpoint's
ListSpec with its filter wording, the msgspec input structs), so the document cannot drift from
what the service accepts. Regenerate the committed copy with `python -m
entrypoints.http.openapi.document > schemas/openapi.json`; a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import json
import sys
from datetime import datetime
from http import HTTPStatus
from typing import Any, cast

import msgspec
from starlette.routing import Route

from domain.catalog import EVENT_TYPES
from domain.shared import shown
from entrypoints.http import (
    admin_metrics_shapes,
    admins,
    appaloft_views,
    attempt_plan,
    attempt_readiness,
    attempt_reasons,
    attempt_views,
    edgegap_shapes,
    environments,
    event_types,
    events,
    resource_health_views,
    runtime_control_views,
    serializers,
)
from entrypoints.http.app import AGENT_MODULES, AGENT_ROUTES, API_MODULES, API_ROUTES
from entrypoints.http.errors import is_edgegap
from entrypoints.http.listing import (
    MAX_PAGE,
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
    PUBLIC,
    WEBHOOK,
    Op,
)
from entrypoints.http.routing import DocumentedRoute
from entrypoints.settings import Settings

SAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DATE_OR_TIME: oas.Schema = {"type": "string",
                             "anyOf": [{"format": "date-time"}, {"format": "date"}]}


def build_openapi() -> dict[str, Any]:
    """The whole document as plain JSON values (a fresh copy on every call)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in _documented():
        operations = paths.setdefault(route.path_format, {})
        if route.method.lower() in operations:  # Starlette would serve only the first
            raise LookupError(f"{route.method} {route.path_format} is routed twice")
        operations[route.method.lower()] = _operation(route)
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
    return cast(dict[str, Any], ecma_patterns(result))


def ecma_patterns(node: Any) -> Any:
    """Every `pattern` as JSON Schema reads it (ECMA-262): the code's whole-string patterns end
    in Python's \\Z (see domain.shared.shown)."""
    if isinstance(node, dict):
        return {k: shown(v) if k == "pattern" and isinstance(v, str) else ecma_patterns(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [ecma_patterns(v) for v in node]
    return node


def _documented() -> list[DocumentedRoute]:
    """Every route of the API and the agent, each with the Op declared beside it."""
    routes = [*API_ROUTES, *AGENT_ROUTES]
    if bare := [r.path for r in routes if not isinstance(r, DocumentedRoute)]:
        raise LookupError(f"{bare}: declare them with entrypoints.http.routing.route and an Op")
    return [r for r in routes if isinstance(r, DocumentedRoute)]


def _operation(route: DocumentedRoute) -> dict[str, Any]:
    op, endpoint = route.op, cast(Any, route.endpoint)
    # Every operation reads or writes the database, so any answers 503 while it is unavailable;
    # a write also while the read model is stuck or has not caught up in time (README "When
    # the read model cannot go on").
    errors = sorted({*op.errors, 503, *({401} if op.security != PUBLIC else ())})
    doc: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": f"{endpoint.__module__.rsplit('.', 1)[-1]}_{endpoint.__name__}",
        "parameters": [*_path_params(route, op), *_query_params(op.listing),
                       *_query_struct_params(op.query)],
        "responses": {
            **{str(status): _success(op, status) for status in (op.status, *op.also)},
            **{str(s): _error(route.path_format, op, s) for s in errors},
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


def _error(path: str, op: Op, status: int) -> dict[str, Any]:
    if op.fastapi_errors and status in (413, 422):
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


def _query_params(spec: ListSpec | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    params = [_filter_param(p, spec.docs.get(p.name)) for p in spec.params]
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
         "schema": {**oas.INT, "minimum": 1, "maximum": MAX_PAGE, "default": 1}},
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
    for op in (route.op for route in _documented()):
        if op.data is not None and op.listing is not None:
            out[f"{op.data}PaginatedResponse"] = oas.paginated(op.data, op.list_meta)
        elif op.data is not None and not op.flat:
            out[f"{op.data}SingleResponse"] = oas.single(op.data)
    return out


def _request_bodies() -> dict[str, oas.Schema]:
    """msgspec's schemas of the input structs, renamed to the seed's names and described."""
    bodies = (route.op.body for route in _documented())
    structs = list(dict.fromkeys(body for body in bodies if body is not None))
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


# The shapes several route modules render; each route module lists its own (SHAPES).
_SHAPE_MODULES = (serializers, admin_metrics_shapes, appaloft_views, attempt_plan,
                  attempt_readiness, attempt_reasons, attempt_views, edgegap_shapes,
                  resource_health_views, runtime_control_views)


def _response_shapes() -> dict[str, oas.Schema]:
    """The typed responses' schemas, from the classes the handlers return."""
    modules = (*_SHAPE_MODULES, *API_MODULES, *AGENT_MODULES)
    shapes = [shape for module in modules for shape in getattr(module, "SHAPES", ())]
    # not objects: their component names
    named = {**admins.NAMED, **event_types.NAMED, **environments.NAMED}
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
