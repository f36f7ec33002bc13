"""Configuration variables of environments and resources (Appaloft's .../variables, resource
secrets, effective-precedence and effective-config).

Writes go through the services, which seal a secret before anything records it; reads come
from the config_variables table, which never holds a secret's value: every read shows `****`.
Precedence is domain/variables.py's (`defaults < environment < resource`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from application.environments import SetVariable, UnsetVariable
from application.resources import CreateSecret, RotateSecret
from domain.variables import MASK, PRECEDENCE
from entrypoints.http.appaloft_views import (
    AppaloftShape,
    NoQuery,
    Query,
    VariableEntry,
    answer,
    effective_entries,
    found,
    generated_at,
    layer,
    perform,
    read_query,
    run,
    shown,
)
from entrypoints.http.errors import ApiError
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.openapi.appaloft import COMMAND_ERRORS, LOCKED, VARIABLE, appaloft_op
from entrypoints.http.routing import route
from entrypoints.http.serializers import Moment, described
from projections.resource_reads import ResourceReads

_d = described
B = TypeVar("B", bound=msgspec.Struct)
Exposure = Literal["build-time", "runtime"]
MAX_KEY = 128


class SecretsQuery(Query):
    exposure: Annotated[Exposure, _d("Which exposure's secrets (default runtime)")] = "runtime"


class EffectivePrecedenceResponse(AppaloftShape):
    """An environment's variables after precedence, secrets masked"""

    schema_version: Literal["environments.effective-precedence/v1"]
    environment_id: UUID
    project_id: UUID
    owned_entries: Annotated[list[VariableEntry], _d("Set on this environment")]
    effective_entries: Annotated[list[VariableEntry], _d("What a deployment here gets")]
    precedence: Annotated[list[str], _d("Layers, lowest first")]
    generated_at: Moment


class ConfigOverride(AppaloftShape):
    key: str
    exposure: str
    previous_scope: Annotated[str, _d("The layer whose entry the resource's replaces")]
    rule: Literal["resource-entry-replaced"]


class EffectiveConfigResponse(AppaloftShape):
    """What a deployment of the resource would get now, secrets masked"""

    schema_version: Literal["resources.effective-config/v1"]
    resource_id: UUID
    environment_id: UUID
    owned_entries: list[VariableEntry]
    effective_entries: list[VariableEntry]
    overrides: list[ConfigOverride]
    precedence: list[str]
    generated_at: Moment


class SecretEntry(VariableEntry, kw_only=True):
    """One secret of a resource; its value is always ****"""

    resource_id: UUID


class SecretListResponse(AppaloftShape):
    """A resource's secrets of one exposure; values are never shown"""

    schema_version: Literal["resources.secrets.list/v1"]
    resource_id: UUID
    items: list[SecretEntry]
    generated_at: Moment


class SecretShowResponse(AppaloftShape):
    """One secret of a resource; its value is never shown"""

    schema_version: Literal["resources.secrets.show/v1"]
    secret: SecretEntry
    generated_at: Moment


class SecretAcceptedResponse(AppaloftShape):
    """The secret was stored sealed; its value is never echoed"""

    resource_id: UUID
    key: str
    exposure: str


SHAPES = (EffectivePrecedenceResponse, ConfigOverride, EffectiveConfigResponse,
          SecretListResponse, SecretShowResponse, SecretAcceptedResponse)


def path_key(request: Request) -> str:
    key: str = request.path_params["key"]
    if not 1 <= len(key) <= MAX_KEY:
        raise ApiError(400, {"key": [f"should be 1 to {MAX_KEY} character(s)"]})
    return key


async def _set(request: Request, param: str, call: Callable[..., Any]) -> Response:
    await perform(request, call, param, SetVariable)
    return answer(None)


async def _unset(request: Request, param: str, call: Callable[..., Any]) -> Response:
    await _on_key(request, param, call, UnsetVariable)
    return answer(None)


async def _on_key(request: Request, param: str, call: Callable[..., Any],
                  body: type[B]) -> tuple[UUID, str, B]:
    """The id, the {key} and the body of a command on one key, once `call` ran with them."""
    identifier, key = path_uuid(request, param), path_key(request)
    cmd = await read_body(request, body)
    await run(call, identifier, key, cmd)
    return identifier, key, cmd


# --- environments -----------------------------------------------------------------------------
async def set_environment_variable(request: Request) -> Response:
    return await _set(request, "environmentId", services(request).environments.set_variable)


async def unset_environment_variable(request: Request) -> Response:
    return await _unset(request, "environmentId", services(request).environments.unset_variable)


def _precedence(reads: ResourceReads, environment_id: UUID,
                now: datetime) -> EffectivePrecedenceResponse:
    environment = found(reads.environments.get(environment_id), "environment", environment_id)
    own = reads.variables_of(environment_id)
    return EffectivePrecedenceResponse(
        schema_version="environments.effective-precedence/v1", environment_id=environment_id,
        project_id=environment.project_id,
        owned_entries=[shown(e, "environment") for e in layer(own).values()],
        effective_entries=effective_entries({"environment": own}),
        precedence=list(PRECEDENCE), generated_at=now)


async def effective_precedence(request: Request) -> Response:
    environment_id = path_uuid(request, "environmentId")
    read_query(request, NoQuery)
    shape = await run(_precedence, services(request).resource_reads, environment_id,
                      generated_at(request))
    return answer(shape)


# --- resources --------------------------------------------------------------------------------
async def set_resource_variable(request: Request) -> Response:
    return await _set(request, "resourceId", services(request).resources.set_variable)


async def unset_resource_variable(request: Request) -> Response:
    return await _unset(request, "resourceId", services(request).resources.unset_variable)


async def _secrets(request: Request, resource_id: UUID) -> tuple[str, list[SecretEntry]]:
    """The exposure asked for (the query) and the resource's secrets of it, masked."""
    exposure = read_query(request, SecretsQuery).exposure
    reads = services(request).resource_reads
    found(await run(reads.resources.get, resource_id), "resource", resource_id)
    own = await run(reads.variables_of, resource_id)
    return exposure, [SecretEntry(**msgspec.structs.asdict(shown(e, "resource")),
                                  resource_id=resource_id)
                      for e in layer(own).values()
                      if e["is_secret"] and e["exposure"] == exposure]


async def secrets(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")
    _, items = await _secrets(request, resource_id)
    return answer(SecretListResponse(schema_version="resources.secrets.list/v1",
                                     resource_id=resource_id, items=items,
                                     generated_at=generated_at(request)))


async def secret(request: Request) -> Response:
    resource_id, key = path_uuid(request, "resourceId"), path_key(request)
    exposure, items = await _secrets(request, resource_id)
    matched = [item for item in items if item.key == key]
    if not matched:
        raise ApiError(404, None, f"resource {resource_id} has no {exposure} secret {key}")
    return answer(SecretShowResponse(schema_version="resources.secrets.show/v1",
                                     secret=matched[0], generated_at=generated_at(request)))


async def create_secret(request: Request) -> Response:
    resource_id, cmd = path_uuid(request, "resourceId"), await read_body(request, CreateSecret)
    await run(services(request).resources.create_secret, resource_id, cmd)
    return answer(SecretAcceptedResponse(resource_id=resource_id, key=cmd.key,
                                         exposure=cmd.exposure))


async def rotate_secret(request: Request) -> Response:
    resource_id, key, cmd = await _on_key(request, "resourceId",
                                          services(request).resources.rotate_secret, RotateSecret)
    return answer(SecretAcceptedResponse(resource_id=resource_id, key=key,
                                         exposure=cmd.exposure))


async def delete_secret(request: Request) -> Response:
    resource_id, key, cmd = await _on_key(request, "resourceId",
                                          services(request).resources.delete_secret,
                                          UnsetVariable)
    return answer(SecretAcceptedResponse(resource_id=resource_id, key=key,
                                         exposure=cmd.exposure))


def _config(reads: ResourceReads, resource_id: UUID) -> tuple[UUID, list[VariableEntry],
                                                              list[VariableEntry],
                                                              list[ConfigOverride]]:
    resource = found(reads.resources.get(resource_id), "resource", resource_id)
    own = reads.variables_of(resource_id)
    inherited = reads.variables_of(resource.environment_id)
    replaced = {(v.key, v.exposure) for v in inherited} & {(v.key, v.exposure) for v in own}
    overrides = [ConfigOverride(key=k, exposure=x, previous_scope="environment",
                                rule="resource-entry-replaced") for k, x in sorted(replaced)]
    merged = effective_entries({"environment": inherited, "resource": own})
    owned = [shown(e, "resource") for e in layer(own).values()]
    return resource.environment_id, owned, merged, overrides


async def effective_config(request: Request) -> Response:
    resource_id = path_uuid(request, "resourceId")
    read_query(request, NoQuery)
    environment_id, owned, merged, overrides = await run(
        _config, services(request).resource_reads, resource_id)
    assert all(e.value == MASK for e in merged if e.is_secret)
    return answer(EffectiveConfigResponse(
        schema_version="resources.effective-config/v1", resource_id=resource_id,
        environment_id=environment_id, owned_entries=owned, effective_entries=merged,
        overrides=overrides, precedence=list(PRECEDENCE), generated_at=generated_at(request)))


ROUTES = [
    route("POST", "/environments/{environmentId}/variables", set_environment_variable, appaloft_op(
        VARIABLE, "Set an environment variable", 204, None, (400, *COMMAND_ERRORS),
        body=SetVariable,
        description="A secret (isSecret or kind secret) is sealed before it is recorded and"
        " never shown again." + LOCKED)),
    route("DELETE", "/environments/{environmentId}/variables/{key}", unset_environment_variable,
          appaloft_op(VARIABLE, "Remove an environment variable", 204, None,
                      (400, *COMMAND_ERRORS), body=UnsetVariable)),
    route("GET", "/environments/{environmentId}/effective-precedence", effective_precedence,
          appaloft_op(VARIABLE, "An environment's variables after precedence", 200,
                      "EffectivePrecedence", (400, 404))),
    route("POST", "/resources/{resourceId}/variables", set_resource_variable, appaloft_op(
        VARIABLE, "Set a resource variable", 204, None, (400, *COMMAND_ERRORS), body=SetVariable,
        description="It overrides the environment's entry with the same key and exposure."
        + LOCKED)),
    route("DELETE", "/resources/{resourceId}/variables/{key}", unset_resource_variable, appaloft_op(
        VARIABLE, "Remove a resource variable", 204, None, (400, *COMMAND_ERRORS),
        body=UnsetVariable)),
    route("GET", "/resources/{resourceId}/secrets", secrets, appaloft_op(
        VARIABLE, "List a resource's secrets (masked)", 200, "SecretList", (400, 404),
        query=SecretsQuery)),
    route("POST", "/resources/{resourceId}/secrets", create_secret, appaloft_op(
        VARIABLE, "Create a resource secret", 200, "SecretAccepted", (400, *COMMAND_ERRORS),
        body=CreateSecret,
        description="The value is sealed and never echoed; 409 when it exists (rotate it).")),
    route("GET", "/resources/{resourceId}/secrets/{key}", secret, appaloft_op(
        VARIABLE, "Show one of a resource's secrets (masked)", 200, "SecretShow", (400, 404),
        query=SecretsQuery,
        description="404 unless the resource has a secret of that key and exposure (a plain"
        " variable is no secret).")),
    route("POST", "/resources/{resourceId}/secrets/{key}", rotate_secret, appaloft_op(
        VARIABLE, "Rotate a resource secret", 200, "SecretAccepted", (400, *COMMAND_ERRORS),
        body=RotateSecret)),
    route("DELETE", "/resources/{resourceId}/secrets/{key}", delete_secret, appaloft_op(
        VARIABLE, "Delete a resource secret", 200, "SecretAccepted", (400, *COMMAND_ERRORS),
        body=UnsetVariable)),
    route("GET", "/resources/{resourceId}/effective-config", effective_config, appaloft_op(
        VARIABLE, "What a deployment of the resource would get (masked)", 200, "EffectiveConfig",
        (400, 404))),
]
