"""One table from exceptions to HTTP errors; nothing escapes as a bare 500."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from application.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    NotSupportedError,
    ReadModelLagError,
    SecretUnavailableError,
    UnauthorizedError,
)
from domain.enrollment_key import KeyRefusedError
from domain.shared import (
    BlockedError,
    DomainError,
    GoneError,
    InvalidValueError,
    StateConflictError,
    shown,
)
from entrypoints.http.edgegap_shapes import ErrorMessageResponse
from entrypoints.http.responses import JSONResponse, error_body
from projections.status import (
    ProjectionStuckError,
    ReadModelBehindError,
    StoreUnavailableError,
    is_store_trouble,
    store_trouble_reason,
)

log = logging.getLogger(__name__)

STATUS = {
    400: ("bad_request", "Invalid request parameters"),
    401: ("unauthorized", "Missing or invalid credentials"),
    403: ("forbidden", "Insufficient permissions"),
    404: ("not_found", "Resource not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Resource already exists"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Expected application/json"),
    422: ("validation_failed", "Validation failed"),
    500: ("internal_error", "Internal server error"),
    501: ("not_implemented", "Not implemented"),
    503: ("service_unavailable", "Downstream dependency unreachable"),
}


class ApiError(Exception):
    """An error raised by the HTTP layer itself (bad parameters, bad body, auth)."""

    def __init__(self, status: int, details: Any = None, message: str | None = None) -> None:
        super().__init__(message or STATUS[status][1])
        self.status = status
        self.details = details
        self.message = message or STATUS[status][1]


def error_response(
    request: Request, status: int, details: Any = None, message: str | None = None
) -> JSONResponse:
    if is_edgegap(request.url.path):
        return edgegap_error(status, details, message)
    code, default = STATUS.get(status, STATUS[500])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = error_body(request, code, message or default, details)
    return JSONResponse(body, status_code=status, headers=headers)


EDGEGAP_PREFIXES = ("/v1/", "/v2/")


def is_edgegap(path: str) -> bool:
    return path.startswith(EDGEGAP_PREFIXES)


def edgegap_error(status: int, details: Any = None, message: str | None = None) -> JSONResponse:
    """Edgegap's `Error` body, {message, details}. A bad request is a 400 there: its 422 means
    "Couldn't Allocate Server" and nothing else."""
    if status == 422:
        status = 400
        message = None if message == STATUS[422][1] else message
    if message == STATUS[400][1]:  # the house wording; Edgegap's follows
        message = None
    text = message or ("Client Side Request Error" if status == 400
                       else STATUS.get(status, STATUS[500])[1])
    headers = {"WWW-Authenticate": "token"} if status == 401 else None
    return JSONResponse(ErrorMessageResponse(message=text, details=details or {}),
                        status_code=status, headers=headers)


def _field_details(exc: DomainError, default_field: str = "base") -> dict[str, list[str]]:
    details = {exc.field or default_field: [exc.message]}
    if isinstance(exc, BlockedError):
        details["blockers"] = [str(b) for b in exc.blockers]
    return details


def domain_status(exc: DomainError) -> int:
    if isinstance(exc, NotSupportedError):  # a feature this service does not have: a 4xx,
        return 403  # as a switched-off one is (a 5xx would read as the server failing)
    if isinstance(exc, NotFoundError | GoneError):
        return 404
    if isinstance(exc, UnauthorizedError):
        return 401
    if isinstance(exc, ForbiddenError | KeyRefusedError):
        return 403
    if isinstance(exc, ConflictError | StateConflictError):
        return 409
    if isinstance(exc, ReadModelLagError | SecretUnavailableError):
        return 503
    if isinstance(exc, InvalidValueError):
        return 422
    return 422


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = domain_status(exc)
    details = None if status == 404 else _field_details(exc)
    if isinstance(exc, NotSupportedError):
        details = {"feature": [exc.feature]}
    message = exc.message if status in (401, 403, 404, 409, 503) else None
    return error_response(request, status, details, message)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.details, exc.message)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, None, exc.detail if exc.detail else None)


async def on_timeout(request: Request, exc: Exception) -> Response:
    return error_response(request, 503, None, "the read model did not catch up in time; retry")


async def on_projection_stuck(request: Request, exc: Exception) -> Response:
    """Writes refused at once (not after a timeout each) while the read model cannot go on."""
    assert isinstance(exc, ProjectionStuckError)
    failure = exc.failure
    details = {"projection": [f"{failure.projection} stuck at {failure.describe()}"]}
    return error_response(request, 503, details, str(exc))


async def on_read_model_behind(request: Request, exc: Exception) -> Response:
    """Writes refused at once while the read model is rebuilt at start (after an upgrade)."""
    assert isinstance(exc, ReadModelBehindError)
    details = {"projection": [f"rebuilding: {exc.position} of {exc.target} events"]}
    return error_response(request, 503, details, str(exc))


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    """The database did not answer: away, restarting, or every connection busy (a
    StoreUnavailableError), or it broke the statement off (eventsourcing's OperationalError and
    InterfaceError, after its own retries). Nothing is wrong with the request; retry it. A
    statement SQLite could not run is a bug, answered as one."""
    if not is_store_trouble(exc):
        return await on_unexpected(request, exc)
    trouble: StoreTrouble = request.app.state.store_trouble
    unsaid = trouble.to_say(str(exc))
    if unsaid is not None:
        log.warning("database unavailable on %s %s: %s%s", request.method, request.url.path,
                    exc, f" ({unsaid} more requests since the last line)" if unsaid else "")
    # Our own words only: a driver's message names hosts and databases, and some callers
    # (enrollment, self-stop) need no key.
    short_of = store_trouble_reason(exc)
    if short_of is not None:
        trouble.failed(short_of)
    why = exc if isinstance(exc, StoreUnavailableError) else (
        short_of or "it broke the statement off")
    return error_response(request, 503, None, f"the database is unavailable ({why}); retry")


class StoreTrouble:
    """How requests meet the database's trouble: the log says each error once and then every
    WINDOW s with a count; and what the database was last short of (a full disk, no
    connection left), for /readyz to say while requests meet it: with SQLite's disk full,
    reads and the projector went on, and /readyz said ready while every write answered 503.
    It holds for WINDOW seconds after the last such failure, so it clears by itself
    once requests go through again."""

    WINDOW = 10.0

    def __init__(self) -> None:
        self.reason: str | None = None
        self.at = 0.0
        self._said: str | None = None
        self._said_at = 0.0
        self._unsaid = 0

    def to_say(self, error: str) -> int | None:
        """How many requests met this error since the log last said it (None: not yet time to
        say it again). A new error is said at once, the same one at most every WINDOW s: a
        full disk logged a warning per request, 280 lines a second."""
        now = time.monotonic()
        if error == self._said and now - self._said_at < self.WINDOW:
            self._unsaid += 1
            return None
        unsaid = self._unsaid if error == self._said else 0
        self._said, self._said_at, self._unsaid = error, now, 0
        return unsaid

    def failed(self, reason: str) -> None:
        self.reason, self.at = reason, time.monotonic()

    def recent(self) -> str | None:
        if self.reason is not None and time.monotonic() - self.at < self.WINDOW:
            return self.reason
        return None


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500)


_PATTERN_RULE = re.compile(r"^Expected `str` matching regex '(.*)'\Z")
_AT = re.compile(r" - at `\$\.?([^`]*)`\Z")
_RULES = [
    (re.compile(r"^Expected `str` of length <= (\d+)\Z"), "should be at most {0} character(s)"),
    (re.compile(r"^Expected `str` of length >= (\d+)\Z"), "should be at least {0} character(s)"),
    (re.compile(r"^Expected `array` of length <= (\d+)\Z"), "should have at most {0} item(s)"),
    (re.compile(r"^Expected `array` of length >= (\d+)\Z"), "should have at least {0} item(s)"),
    (re.compile(r"^Expected `object` of length <= (\d+)\Z"), "should have at most {0} entries"),
    (re.compile(r"^Expected `(?:int|float)` >= (\S+)\Z"), "must be greater than or equal to {0}"),
    (re.compile(r"^Expected `(?:int|float)` <= (\S+)\Z"), "must be less than or equal to {0}"),
    (re.compile(r"^Expected `(?:int|float)` > (\S+)\Z"), "must be greater than {0}"),
    (re.compile(r"^Expected `(?:int|float)` < (\S+)\Z"), "must be less than {0}"),
    (_PATTERN_RULE, "Invalid format. Expected ~r/{0}/"),
    (re.compile(r"^Object missing required field `(\w+)`\Z"), "can't be blank"),
    (re.compile(r"^Object contains unknown field `(\w+)`\Z"), "is not a known field"),
    (re.compile(r"^Invalid enum value (.*)\Z"), "is invalid: {0}"),
    (re.compile(r"^Expected `([\w |]+)`, got `(\w+)`\Z"), "is invalid: expected {0}, got {1}"),
]


def validation_details(exc: msgspec.ValidationError) -> dict[str, list[str]]:
    """msgspec's one-line error as the seed's {field: [messages]} map."""
    text = str(exc)
    match = _AT.search(text)
    path = match.group(1) if match else ""
    text = _AT.sub("", text)
    for pattern, template in _RULES:
        found = pattern.match(text)
        if found:
            if template in ("can't be blank", "is not a known field"):
                name = found.group(1)
                return {f"{path}.{name}" if path else name: [template]}
            if pattern is _PATTERN_RULE:  # msgspec quotes the pattern as repr() would
                return {path or "body": [template.format(
                    shown(found.group(1).replace("\\\\", "\\")))]}
            return {path or "body": [template.format(*found.groups())]}
    return {path or "body": [text]}


def not_found(request: Request) -> JSONResponse:
    return error_response(request, 404)
