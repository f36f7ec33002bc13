"""Request id on every response, and bearer authentication of the admin API (which key
authorised a request is kept in its state as `caller`: Mengi's answers name their owner)."""

from __future__ import annotations

import hmac
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.errors import error_response
from entrypoints.logs import ACCESS, request_id

# (method, route template, status, perf_counter at the start): feeds the latency histogram.
Observe = Callable[[str, str, int, float], None]

log = logging.getLogger(__name__)
access = logging.getLogger(ACCESS)  # one line per request (ACCESS_LOG), fields for JSON logs
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}\Z")
CLIENT_CLOSED = 499  # the status logged for a request whose client left before its answer


class RequestContext:
    """Echoes a sane incoming x-request-id or makes one; checks the admin bearer key."""

    def __init__(
        self, app: ASGIApp, api_keys: Mapping[str, str], protected: tuple[str, ...],
        public: Iterable[str], observe: Observe | None = None,
    ) -> None:
        self.app = app
        self.observe = observe
        # The setting's name (API_KEY, MASTER_KEY) -> its value.
        self.api_keys = tuple((name, k.encode()) for name, k in api_keys.items() if k)
        self.protected = protected
        # Exact paths, or prefixes ending in "/" (the self-stop URL carries its own token).
        self.public = frozenset(p for p in public if not p.endswith("/"))
        self.public_prefixes = tuple(p for p in public if p.endswith("/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if _SANE_ID.match(incoming) else _request_id()
        scope.setdefault("state", {})["request_id"] = rid
        began = time.perf_counter()
        started: list[int] = []  # the status answered, once the response has started

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(message["status"])
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        token = request_id.set(rid)
        try:
            await self._answer(scope, receive, send_with_id, started)
        finally:
            status = started[-1] if started else 500
            if access.isEnabledFor(logging.INFO):
                took = round((time.perf_counter() - began) * 1000, 1)
                client = scope.get("client")
                access.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, took,
                            extra={"fields": {
                                "method": scope["method"], "path": scope["path"],
                                "status": status, "duration_ms": took,
                                "client": client[0] if client else None}})
            request_id.reset(token)
            if self.observe is not None:
                route = scope.get("route")
                self.observe(scope["method"], getattr(route, "path", "unmatched"), status, began)

    async def _answer(self, scope: Scope, receive: Receive, send_with_id: Send,
                      started: list[int]) -> None:
        path = scope["path"]
        guarded = (path.startswith(self.protected) and path not in self.public
                   and not path.startswith(self.public_prefixes))
        caller = self._authorised(scope) if guarded else None
        if guarded and caller is None:
            response = error_response(Request(scope), 401)
            await response(scope, receive, send_with_id)
            return
        if caller is not None:
            scope["state"]["caller"] = caller
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away before its request was read (an agent's connection dropped
            # mid-body): nobody is left to answer, and nothing went wrong here. Logged and
            # counted as 499, nginx's "client closed request".
            log.info("client disconnected during %s %s", scope.get("method"), path)
            if not started:
                started.append(CLIENT_CLOSED)
        except Exception:
            # Answer here, inside the request-id wrapper, rather than in Starlette's outer
            # ServerErrorMiddleware, so even a 500 carries x-request-id.
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                raise
            await error_response(Request(scope), 500)(scope, receive, send_with_id)

    def _authorised(self, scope: Scope) -> str | None:
        """The name of the key presented, or None."""
        header = Headers(scope=scope).get("authorization", "").strip()
        scheme, _, token = header.partition(" ")
        schemes: tuple[str, ...] = ("bearer",)
        if not scope["path"].startswith("/api/"):
            # The Edgegap-compatible API takes what its clients send: `token <key>`, or the
            # bare key as in its examples. The Edge Admin API keeps to Bearer.
            schemes = ("bearer", "token")
            if not token:
                scheme, token = "token", scheme
        if scheme.lower() not in schemes or not token.strip():
            return None
        presented = token.strip().encode()
        # Compare against every key so timing does not reveal which one matched.
        matched = None
        for name, key in self.api_keys:
            if hmac.compare_digest(presented, key):
                matched = name
        return matched


def _request_id() -> str:
    """A version-4 UUID from the fast generator: request ids correlate logs, they guard
    nothing, and uuid4()'s os.urandom call cost 6% of a simple GET's time."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))
