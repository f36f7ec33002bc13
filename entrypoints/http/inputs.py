"""Turning request bodies and path parameters into typed values, or clear 400/422 errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from domain.cluster import MAX_NAME
from domain.deployment import REQUEST_ID
from domain.shared import BAD_DNS_LABEL, DNS_LABEL, OUT_OF_UTC_RANGE, ascii_digits
from entrypoints.bootstrap import Services
from entrypoints.http.errors import ApiError, validation_details
from projections.fleet_tables import NodeRecord

T = TypeVar("T")
R = TypeVar("R")


class BodyError(Exception):
    """A body that cannot be taken: status 400 (not JSON, too big) or 422 (a value), with the
    field it concerns ("body" for the whole)."""

    def __init__(self, status: int, field: str, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.too_large = too_large

    def details(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


async def read_body(request: Request, type_: type[T]) -> T:
    """Decodes a JSON body; an empty body counts as {} (every field optional then)."""
    try:
        return await decode_body(request, type_)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`, got") and " - at `$." not in str(exc):
            raise ApiError(400, {"body": ["must be a JSON object"]}) from None
        raise ApiError(422, validation_details(exc)) from None
    except BodyError as exc:
        raise ApiError(exc.status, exc.details()) from None


async def decode_body(request: Request, type_: type[T]) -> T:
    """The body as `type_`, every value in it fit to be stored (see `check_values`). Raises
    msgspec.ValidationError for a value of the wrong type, BodyError for the rest."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    # More than 18 digits is past any limit, and int() refuses over 4300 of them.
    if declared and ascii_digits(declared) and (len(declared) > 18 or int(declared) > limit):
        raise BodyError(400, "body", f"must be at most {limit} bytes", too_large=True)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(400, "body", f"must be at most {limit} bytes", too_large=True)
        chunks.append(chunk)
    body = b"".join(chunks).strip() or b"{}"
    try:
        # msgspec checks UTF-8 only where it reads text: bad bytes in a UUID field read as an
        # invalid UUID (422), in an unknown field's name as that field (422).
        body.decode("utf-8")
        decoded = msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError:
        # msgspec stops at the first wrong field it reads: '{"a": 1' named field a (422)
        # before it reached the end that makes it no JSON at all (400).
        if not _is_json(body):
            raise BodyError(400, "body", "is not valid JSON") from None
        raise
    except msgspec.DecodeError:
        raise BodyError(400, "body", "is not valid JSON") from None
    except UnicodeDecodeError:
        raise BodyError(400, "body", "is not valid UTF-8") from None
    except RecursionError:
        raise BodyError(400, "body", f"nests more than {MAX_DEPTH} levels deep") from None
    check_values(decoded)
    return decoded


def _is_json(body: bytes) -> bool:
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


# Every value a request carries is stored (events, read-model columns) and must stay storable
# there: one integer past 64 bits or one NUL would stop the read model for everyone.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # levels of nesting in a body; free-form JSON (user_data, config) included


def check_values(value: Any) -> None:
    """Raises BodyError (422, naming the field) for an integer outside 64 bits, text with a NUL
    or a lone surrogate, a time whose UTC instant is outside years 1 to 9999 (no store keeps
    it as such, and PostgreSQL keeps but cannot give back 10000-01-01), or nesting deeper than
    MAX_DEPTH."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = path if len(path) <= 80 else path[:79] + "…"
            raise BodyError(422, where or "body", f"nests more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, datetime):
            _check_instant(item, path)
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise BodyError(422, path or "body",
                                f"must be between {INT_MIN} and {INT_MAX}")
        elif isinstance(item, dict):
            for key, child in item.items():
                name = str(key)
                _check_text(name, _join(path, name))
                stack.append((child, _join(path, name), depth + 1))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, msgspec.Struct):
            # The class's own field tables: msgspec.structs.fields() resolves the annotations
            # again at every call (a tenth of a command's CPU when it ran per request).
            cls = type(item)
            for name, wire in zip(cls.__struct_fields__, cls.__struct_encode_fields__,
                                  strict=True):
                stack.append((getattr(item, name), _join(path, wire), depth + 1))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise BodyError(422, path or "body", "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(422, path or "body", "must not contain lone surrogates") from None


def _check_instant(moment: datetime, path: str) -> None:
    if moment.tzinfo is None:
        return  # no offset to push it past the first or last instant
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise BodyError(422, path or "body", OUT_OF_UTC_RANGE) from None


def path_uuid(request: Request, name: str = "id") -> UUID:
    raw = request.path_params[name]
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, {name: ["is not a valid UUID"]}) from None


def path_cluster_name(request: Request, name: str = "name") -> str:
    raw: str = request.path_params[name]
    if len(raw) > MAX_NAME or not DNS_LABEL.match(raw):
        raise ApiError(400, {name: [BAD_DNS_LABEL]})
    return raw


def request_id_of(request: Request) -> str:
    """The deployment's request id in the path; one that cannot name a deployment is a 404."""
    request_id = str(request.path_params["request_id"])
    if not REQUEST_ID.match(request_id):
        raise ApiError(404, None, f"deployment {request_id} not found")
    return request_id


def node_token(request: Request) -> str:
    """The api_token the request bears (agent endpoints); 401 when it bears none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, None, "missing node api_token")
    return token.strip()


async def known_bearer(request: Request, found: T | None) -> T:
    """What a lookup by the request's api_token found; 401 when no node bears it, but 503
    while the read model cannot say (rebuilt at start, or stuck): a node it does not hold yet
    heard 401, on which its agent forgets its token and enrolls again (a new node, for a
    random one)."""
    if found is None:
        await run_in_threadpool(services(request).projector.check)
        raise ApiError(401, None, "unknown or revoked node api_token")
    return found


async def agent_node(request: Request) -> NodeRecord:
    """The node whose api_token the request bears (agent endpoints); 401 otherwise."""
    return await known_bearer(request, await services(request).fleet_reads
                              .node_by_api_token_async(node_token(request)))


async def agent_body(request: Request, type_: type[T],
                     check: Callable[[T], None] | None = None) -> tuple[str, T]:
    """The token and body of an agent's report whose service finds the node by its token in
    the statement that records the report (one round trip, not a lookup first): the body is
    checked before anything is read, and a request whose token names no node still hears
    401 before what is wrong with its body, as on every agent endpoint."""
    token = node_token(request)
    try:
        body = await read_body(request, type_)
        if check is not None:
            check(body)
    except ApiError:
        await agent_node(request)
        raise
    return token, body


async def agent_report(request: Request, type_: type[T],
                       record: Callable[[UUID, str, T], R]) -> tuple[str, R]:
    """An agent's report on one of its deployments, taken in the order every such endpoint
    answers: the node (401), the deployment's request id (404), the body (400/422); `record`
    (an application service) then runs off the event loop."""
    return await agent_report_async(
        request, type_, lambda node_id, request_id, body: run_in_threadpool(
            record, node_id, request_id, body))


async def agent_report_async(request: Request, type_: type[T],
                             record: Callable[[UUID, str, T], Awaitable[R]]) -> tuple[str, R]:
    """`agent_report` whose `record` is awaited on the event loop."""
    node = await agent_node(request)
    request_id = request_id_of(request)
    body = await read_body(request, type_)
    return request_id, await record(node.id, request_id, body)


def services(request: Request) -> Services:
    """The process's wired services, kept in the app state by the lifespan."""
    return request.app.state.services  # type: ignore[no-any-return]


class OfServices(Protocol):
    services: Services


H = TypeVar("H", bound=OfServices)


def held_by_app(request: Request, name: str, make: Callable[[Services], H]) -> H:
    """The app's one `name` (a hub its requests share), made for the services it runs now: a
    new one when they change (an app served again with other services, as tests do)."""
    svc = services(request)
    found: H | None = getattr(request.app.state, name, None)
    if found is None or found.services is not svc:
        found = make(svc)
        setattr(request.app.state, name, found)
    return found


_NEVER = asyncio.Event()  # never set: what a request sees when its app has no stopping signal


def stopping_event(request: Request) -> asyncio.Event:
    """Set once the server begins to stop (entrypoints/http/app.py Stopping): long polls and
    streams end their wait then, and answer, instead of being cut off after the grace period."""
    stopping = getattr(request.app.state, "stopping", None)
    return stopping.event if stopping is not None else _NEVER


async def first_of(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    """Waits until either event is set or `timeout` seconds pass, whichever comes first."""
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
