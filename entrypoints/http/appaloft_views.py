"""What the Appaloft route modules share: its wire conventions, the shapes several of them
return, and the skeletons of their plain commands (`Commands`) and list and count reads
(`Reads`), as entrypoints/http/crud.py is for the Edge Admin resources.

Appaloft answers without the house {data, meta} envelope: a command answers `{id}` (or nothing,
204, where the seed shows `null`), a list `{items}` (at most `limit`, no pages), a count
`{count}`, and the newer reads carry a `schemaVersion` string and `generatedAt`. Fields are
camelCase. The seed documents no errors: ours use the house error envelope
(entrypoints/http/errors.py), as every other non-Edgegap route does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import msgspec
import msgspec.inspect
from msgspec import Meta
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from domain.variables import MASK, effective, entry_id
from entrypoints.bootstrap import Services
from entrypoints.http.crud import Endpoint, named
from entrypoints.http.errors import ApiError, validation_details
from entrypoints.http.inputs import path_uuid, read_body, services
from entrypoints.http.responses import JSONResponse
from entrypoints.http.serializers import Moment, Shape, described
from projections.resource_tables import VariableRecord

T = TypeVar("T")
Q = TypeVar("Q", bound=msgspec.Struct)
_d = described

MAX_LIMIT = 500
Limit = Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="At most this many items (1 to"
                                                             f" {MAX_LIMIT}, default 100)")]
ProjectFilter = Annotated[UUID | None, Meta(description="Only those of this project")]
EnvironmentFilter = Annotated[UUID | None, Meta(description="Only those of this environment")]
ResourceFilter = Annotated[UUID | None, Meta(description="Only those of this resource")]


# RFC 3339 in UTC, as the seed's pattern: a date, a time to the minute or finer, then Z.
MOMENT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z\Z"
Instant = Annotated[str, Meta(pattern=MOMENT, extra_json_schema={"format": "date-time"})]


def instant(text: str | None, name: str) -> datetime | None:
    """An Instant query value as a datetime; a date that is none (02-30) is a 400 naming it."""
    if text is None:
        return None
    head, _, fraction = text[:-1].partition(".")
    try:  # more than microseconds of a fraction is cut, not refused
        return datetime.fromisoformat(f"{head}.{(fraction or '0')[:6]}+00:00")
    except ValueError:
        raise ApiError(400, {name: ["is not a valid date-time"]}) from None


class Query(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """An Appaloft query string: its fields are the documented parameters; any other is a 400,
    as on the house lists."""


class NoQuery(Query):
    """An operation that takes no query parameter."""


class LimitQuery(Query):
    limit: Limit = 100


def read_query(request: Request, query: type[Q]) -> Q:
    """The query string as `query`; a value its type refuses, or an unknown name, is a 400
    naming it. Lax conversion reads the text of numbers, ids and flags, but also "null" as
    None: for a parameter that was sent, that dropped its filter (?resourceId=null counted
    every resource's deployments), so it is refused too."""
    params: dict[str, Any] = dict(request.query_params)
    for name in _repeatable(query):  # an array parameter is the parameter repeated
        if name in params:
            params[name] = request.query_params.getlist(name)
    try:
        value = msgspec.convert(params, query, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, validation_details(exc)) from None
    nulled = {f.encode_name: ["can't be null"] for f in msgspec.structs.fields(query)
              if f.encode_name in params and getattr(value, f.name) is None}
    if nulled:
        raise ApiError(400, nulled)
    return value


def _repeatable(query: type[msgspec.Struct]) -> list[str]:
    """The wire names of the query's array fields."""
    names = []
    for field in msgspec.inspect.type_info(query).fields:  # type: ignore[attr-defined]
        kind = field.type
        while isinstance(kind, msgspec.inspect.Metadata):  # Annotated[...]
            kind = kind.type
        if any(isinstance(k, msgspec.inspect.ListType) for k in getattr(kind, "types", (kind,))):
            names.append(field.encode_name)
    return names


class AppaloftShape(Shape, rename="camel"):
    """Appaloft's response objects: camelCase, every field always present."""


class AppaloftIdResponse(AppaloftShape):
    """The command was accepted; the id of what it created or changed"""

    id: Annotated[str, _d("Id of the project, environment, resource or deployment")]


class AppaloftCountResponse(AppaloftShape):
    """How many match"""

    count: Annotated[int, _d("Number of matching items")]


class VariableEntry(AppaloftShape):
    """One configuration variable as any read shows it: a secret's value is always ****"""

    key: str
    value: Annotated[str | None, _d("The value; **** for a secret")]
    scope: Annotated[str, _d("Where it is set: environment or resource")]
    exposure: Annotated[str, _d("build-time or runtime")]
    is_secret: bool
    kind: Annotated[str, _d("plain-config or secret")]
    updated_at: Moment | None = None


class HttpCheckView(AppaloftShape):
    method: Literal["GET"]
    scheme: Literal["http"]
    host: Annotated[None, _d("The agent probes the container's published port: null")]
    port: int | None
    path: str
    expected_status_code: int
    expected_response_text: Annotated[None, _d("Only the status is checked here: null")]


class HealthPolicyView(AppaloftShape):
    """A health check as a resource configures it and a deployment runs it"""

    enabled: bool
    type: Annotated[str, _d("http or tcp")]
    interval_seconds: int
    timeout_seconds: int
    retries: int
    start_period_seconds: int
    http: HttpCheckView


def health_view(policy: dict[str, Any]) -> HealthPolicyView:
    """A stored health policy (domain/resource_profiles.py's fields) as Appaloft shows it."""
    return HealthPolicyView(
        enabled=policy["enabled"], type=policy["type"],
        interval_seconds=policy["interval_seconds"], timeout_seconds=policy["timeout_seconds"],
        retries=policy["retries"], start_period_seconds=policy["start_period_seconds"],
        http=HttpCheckView(method="GET", scheme="http", host=None, port=policy["port"],
                           path=policy["path"], expected_status_code=policy["expected_status"],
                           expected_response_text=None))


SHAPES = (AppaloftIdResponse, AppaloftCountResponse, VariableEntry)


def answer(shape: msgspec.Struct | None, status: int = 200) -> Response:
    if shape is None:
        return Response(status_code=204)
    return JSONResponse(shape, status_code=status)


def accepted(identifier: UUID | str, status: int = 200) -> Response:
    """`{id}`: 201 when the command created it, else 200."""
    return answer(AppaloftIdResponse(id=str(identifier)), status)


def counted(count: int) -> Response:
    return answer(AppaloftCountResponse(count=count))


run = run_in_threadpool  # blocking reads and commands off the event loop (typed as its callee)


async def perform(request: Request, call: Callable[..., Any], param: str | None = None,
                  body: type[msgspec.Struct] | None = None) -> Any:
    """Runs `call` off the event loop with the id in path parameter `param` and the decoded
    `body`, each where the operation has one (a bad id is reported before a bad body); what
    `call` returns."""
    args: list[Any] = [] if param is None else [path_uuid(request, param)]
    if body is not None:
        args.append(await read_body(request, body))
    return await run(call, *args)


def _same(result: Any) -> Any:
    return result


async def command(request: Request, call: Callable[..., Any], param: str | None = None,
                  body: type[msgspec.Struct] | None = None, status: int = 200) -> Response:
    """The handler of every plain Appaloft command: `perform` it, answer `{id}` with what it
    returns."""
    return accepted(await perform(request, call, param, body), status)


@dataclass(frozen=True)
class Commands:
    """The plain commands of one Appaloft route module on one application service: each
    endpoint `perform`s one service method and answers `{id}`, the id being what the method
    returns (or what `id_of` reads from it). An endpoint carries the route module's name and the
    method's, from which the OpenAPI document makes its operation id (`projects_rename`)."""

    module: str  # the route module's __name__
    service: Callable[[Services], Any]  # e.g. lambda svc: svc.projects
    param: str  # the path parameter naming the item a command acts on
    id_of: Callable[[Any], UUID | str] = _same

    def create(self, method: Callable[..., Any], body: type[msgspec.Struct]) -> Endpoint:
        """POST on the collection: 201."""
        return self.endpoint(method, None, body, 201)

    def item(self, method: Callable[..., Any], body: type[msgspec.Struct] | None = None,
             param: str | None = None, status: int = 200) -> Endpoint:
        """A command on the item in path parameter `param` (the module's by default)."""
        return self.endpoint(method, param or self.param, body, status)

    def endpoint(self, method: Callable[..., Any], param: str | None,
                 body: type[msgspec.Struct] | None, status: int) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            call = partial(method, self.service(services(request)))
            return accepted(self.id_of(await perform(request, call, param, body)), status)

        return named(endpoint, self.module, method.__name__)


@dataclass(frozen=True)
class Reads:
    """The plain reads of one Appaloft route module's collection: the query string decoded as
    its Query (an unknown name is a 400), then `read` off the event loop with it; the Shape it
    makes is the answer. The endpoints are named `index` and `count`, as in every module."""

    module: str  # the route module's __name__

    def index(self, query: type[Q], read: Callable[[Services, Q], msgspec.Struct]) -> Endpoint:
        """GET on the collection: `{items}`."""
        return self.endpoint("index", query, read)

    def count(self, query: type[Q], count: Callable[[Services, Q], int]) -> Endpoint:
        """GET .../count: `{count}`."""
        return self.endpoint(
            "count", query, lambda svc, parsed: AppaloftCountResponse(count=count(svc, parsed)))

    def endpoint(self, name: str, query: type[Q],
                 read: Callable[[Services, Q], msgspec.Struct]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            parsed = read_query(request, query)
            return answer(await run(read, services(request), parsed))

        return named(endpoint, self.module, name)


def generated_at(request: Request) -> datetime:
    return services(request).writes.clock.now()


def found(record: T | None, what: str, identifier: UUID) -> T:
    if record is None:
        raise ApiError(404, None, f"{what} {identifier} not found")
    return record


def entry_of(variable: VariableRecord) -> dict[str, Any]:
    """A read-model variable as domain/variables.py's entries (for `effective`)."""
    return {"key": variable.key, "exposure": variable.exposure, "kind": variable.kind,
            "is_secret": variable.is_secret, "value": variable.plain_value,
            "sealed": variable.sealed_value, "updated_at": variable.updated_at}


def layer(variables: list[VariableRecord]) -> dict[str, dict[str, Any]]:
    return {entry_id(v.key, v.exposure): entry_of(v) for v in variables}


def shown(entry: dict[str, Any], scope: str | None = None) -> VariableEntry:
    return VariableEntry(key=entry["key"], value=MASK if entry["is_secret"] else entry["value"],
                         scope=scope or entry["scope"], exposure=entry["exposure"],
                         is_secret=entry["is_secret"], kind=entry["kind"],
                         updated_at=entry.get("updated_at"))


def effective_entries(layers: dict[str, list[VariableRecord]]) -> list[VariableEntry]:
    """The entries that win, by (key, exposure), each naming its scope; secrets masked."""
    merged = effective({name: layer(found) for name, found in layers.items()})
    return [shown(entry) for entry in merged.values()]
