"""Appaloft's POST /resources/{id}/variables/import: pasted .env content set as the resource's
variables in one decision (all or none), with what each line did, the keys set twice (the
last line wins) and the resource's entries it replaced.

The grammar and which lines become secrets are domain/dotenv.py's (the seed shows neither); a
secret is sealed by the service before anything records it and its value is `****` here.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from application.resources import ImportVariables
from domain.variables import MASK, PLAIN, SECRET
from entrypoints.http.appaloft_views import AppaloftShape, answer, run
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.openapi.appaloft import COMMAND_ERRORS, LOCKED, VARIABLE, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import described

_d = described


class ImportedEntry(AppaloftShape):
    key: str
    value: Annotated[str, _d("**** for a secret")]
    exposure: str
    kind: Annotated[str, _d("plain-config or secret")]
    is_secret: Annotated[bool, _d("Ours: a key naming a password, secret, token, private or"
                                  " access key or credential, or a value holding a URL's"
                                  " password, is sealed")]
    action: Annotated[Literal["created", "updated", "unchanged"], _d(
        "What it did to the resource's entry (a secret is always updated: its value is"
        " sealed anew)")]
    source_line: Annotated[int, _d("Its line in the content, from 1")]


class DuplicateOverride(AppaloftShape):
    key: str
    exposure: str
    first_line: int
    last_line: int
    rule: Literal["last-wins"]


class ExistingOverride(AppaloftShape):
    key: str
    exposure: str
    previous_scope: Literal["resource"]
    rule: Literal["resource-entry-replaced"]


class VariablesImportResponse(AppaloftShape):
    """What the import set: every key of the content once, in the order of its last line"""

    resource_id: UUID
    imported_entries: list[ImportedEntry]
    duplicate_overrides: list[DuplicateOverride]
    existing_overrides: Annotated[list[ExistingOverride], _d(
        "The resource's entries it changed")]


SHAPES = (VariablesImportResponse,)


async def import_variables(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")  # a bad id is reported before a bad body
    cmd = await read_body(request, ImportVariables)
    done = await run(services(request).resources.import_variables, resource_id, cmd)
    exposure = cmd.exposure
    return answer(VariablesImportResponse(
        resource_id=resource_id,
        imported_entries=[ImportedEntry(
            key=e.key, value=MASK if e.is_secret else e.value or "", exposure=exposure,
            kind=SECRET if e.is_secret else PLAIN, is_secret=e.is_secret, action=e.action,
            source_line=e.line) for e in done.entries],
        duplicate_overrides=[DuplicateOverride(key=d.key, exposure=exposure,
                                               first_line=d.first_line, last_line=d.last_line,
                                               rule="last-wins") for d in done.duplicates],
        existing_overrides=[ExistingOverride(key=e.key, exposure=exposure,
                                             previous_scope="resource",
                                             rule="resource-entry-replaced")
                            for e in done.entries if e.action == "updated"]))


ROUTES = [
    route("POST", "/resources/{resourceId}/variables/import", import_variables, appaloft_op(
        VARIABLE, "Import .env content as resource variables", 200, "VariablesImport",
        (400, *COMMAND_ERRORS), body=ImportVariables,
        description="KEY=value lines (blank lines, # comments, `export ` and quotes allowed);"
        " a line that is none of these is a 422 naming it, and nothing is imported. Keys"
        " naming a password, secret, token, private or access key or credential, and values"
        " holding a URL's password, are sealed as secrets (ours: the seed does not say)."
        + LOCKED)),
]
