"""Every HTTP response a test sees is checked against the OpenAPI document (STYLE.md §7).

The document is built from the code, so a test of the document alone cannot see a handler that
answers with a status or a body shape the document does not promise. Instead the clients the
end-to-end and integration tests use carry an httpx response hook (`HOOKS`): the request's
(method, templated path) must be documented, the status must be documented for it, and a JSON
body must validate against the documented schema (openapi-schema-validator, $refs resolved
against the document, formats checked). A Server-Sent Events stream is checked by status and
content type only; the routes the document leaves out by design are listed in `UNDOCUMENTED`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
import httpx2
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from openapi_schema_validator import OAS31Validator
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from entrypoints.http.errors import is_edgegap
from entrypoints.http.openapi.document import build_openapi

DOCUMENT = build_openapi()
# Served beside the API, not part of it: the documents themselves, the probes and the scrape.
UNDOCUMENTED = frozenset({"/openapi.json", "/swaggerui", "/asyncapi.yaml", "/asyncapi.json",
                          "/asyncdoc", "/healthz", "/readyz", "/metrics"})
UNDOCUMENTED_PREFIXES = ("/swaggerui/static/",)
# What a request no route takes gets (the document lists every route, so an undocumented
# method and path is an unrouted one): the key check, then not found or method not allowed.
UNROUTED = frozenset({401, 404, 405})
# Mismatches handed over to the helpers retyping these responses, (method, path, status): each
# entry skips the check of that one outcome only. Remove an entry with its fix.
KNOWN_MISMATCHES: frozenset[tuple[str, str, int]] = frozenset()
# The spawned edge-admin is reached with httpx; Starlette's TestClient is built on httpx2.
Response = httpx.Response | httpx2.Response


class ContractError(AssertionError):
    """A response the OpenAPI document does not describe."""


def check(response: Response) -> None:
    """Raises ContractError unless `response` is one the document describes."""
    method, path = response.request.method, response.request.url.path
    if path in UNDOCUMENTED or path.startswith(UNDOCUMENTED_PREFIXES):
        return
    if _media(response) != "text/event-stream":  # a stream's events are not read here
        response.read()
    where = f"{method} {path} -> {response.status_code}"
    # Matched as sent: a parameter holding "/" travels percent-encoded, in one segment.
    template = match(response.request.url.raw_path.decode("ascii").partition("?")[0])
    operation = DOCUMENT["paths"][template].get(_verb(method)) if template else None
    if template is None or operation is None:
        if response.status_code not in UNROUTED:
            raise ContractError(f"{where}: {method} {template or path} is not documented")
        error = "ErrorMessageResponse" if is_edgegap(path) else "ErrorResponse"
        _validate(where, response, _component_validator(error))
        return
    if (method, template, response.status_code) not in KNOWN_MISMATCHES:
        _check_operation(response, template, operation, f"{where}: {method} {template}")


def _check_operation(response: Response, template: str, operation: dict[str, Any],
                     where: str) -> None:
    documented = _resolve(operation["responses"].get(str(response.status_code)))
    if documented is None:
        raise ContractError(f"{where}: status not documented ({sorted(operation['responses'])});"
                            f" body {_text(response)}")
    if "x-request-id" in documented.get("headers", {}) and "x-request-id" not in response.headers:
        raise ContractError(f"{where}: no x-request-id header")
    method, media = response.request.method, _media(response)
    content: dict[str, Any] = documented.get("content", {})
    if method == "HEAD":
        return
    if not content and response.content:
        raise ContractError(f"{where}: documented without a body, got {_text(response)}")
    if content and media not in content:
        raise ContractError(f"{where}: {media or 'no body'}, documented {sorted(content)}")
    if media == "application/json":
        _validate(where, response, _validator(template, method, response.status_code))


HOOKS: dict[str, list[Callable[..., Any]]] = {"response": [check]}


def checking_client(app: ASGIApp, **options: Any) -> TestClient:
    """A TestClient whose every response is checked against the document."""
    client = TestClient(app, **options)
    client.event_hooks = HOOKS
    return client


def match(path: str) -> str | None:
    """The documented path template `path` falls under; a literal segment beats a parameter,
    as the router lists `/clusters/default/...` before `/clusters/{cluster_name}/...`."""
    found = [(template.count("{"), template) for template, pattern in _patterns()
             if pattern.fullmatch(path)]
    return min(found)[1] if found else None


def _validate(where: str, response: Response, validator: OAS31Validator) -> None:
    error = best_match(validator.iter_errors(response.json()))
    if error is not None:
        at = "".join(f"[{p!r}]" for p in error.absolute_path)
        raise ContractError(f"{where}: body{at}: {error.message}; body {_text(response)}")


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    return [(template, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))))
            for template in DOCUMENT["paths"]]


@cache
def _validator(template: str, method: str, status: int) -> OAS31Validator:
    documented = _resolve(DOCUMENT["paths"][template][_verb(method)]["responses"][str(status)])
    assert documented is not None
    return _schema_validator(documented["content"]["application/json"]["schema"])


@cache
def _component_validator(name: str) -> OAS31Validator:
    return _schema_validator({"$ref": f"#/components/schemas/{name}"})


def _schema_validator(schema: dict[str, Any]) -> OAS31Validator:
    # The document's components ride along so that "#/components/..." resolves from the root.
    return OAS31Validator({**schema, "components": DOCUMENT["components"]},
                          format_checker=OAS31Validator.FORMAT_CHECKER)


def _media(response: Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


def _verb(method: str) -> str:
    return "get" if method == "HEAD" else method.lower()


def _resolve(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None or "$ref" not in entry:
        return entry
    found: dict[str, Any] = DOCUMENT["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    return found


def _text(response: Response) -> str:
    try:
        return response.text[:300]
    except (httpx.ResponseNotRead, httpx2.ResponseNotRead):
        return "(a stream)"
