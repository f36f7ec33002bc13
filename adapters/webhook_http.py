"""The WebhookTransport over aiohttp, and the lookup that unseals a webhook for one delivery.

Every request re-runs the SSRF check and connects to an address that check returned: the URL's
host is replaced by the pinned IP, the original name travels in the Host header and (https) in
TLS SNI, and certificates are verified against that name. A second DNS lookup by the HTTP client
could otherwise land on a private address after the check passed (DNS rebinding), so the client
gets a resolver that refuses every name. Redirects are never followed: a 3xx is the receiver's
answer, and following it would skip the check. No proxy from the environment, no cookies.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Mapping
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from ipaddress import IPv6Address
from typing import Protocol
from uuid import UUID

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from adapters.resolver import UnresolvedHostError
from adapters.webhook_directory import open_webhook
from application.apps import reveal
from application.deliveries import Sent, WebhookTarget
from application.ports import SecretBox, UnsealError
from application.unsealing import UnsealFailures
from domain.deployment import Status
from domain.shared import InvalidValueError
from domain.ssrf import Destination, IPAddress, parse_destination
from projections.view import TableView
from projections.webhook_reads import WebhookReads
from projections.webhook_tables import WebhookRecord

MAX_RESPONSE_BYTES = 64 * 1024  # read (and drop) at most this much of a receiver's answer
MAX_ADDRESSES = 3  # connection attempts per request, in resolver order


def _user_agent() -> str:
    try:
        return f"edge-admin-webhooks/{version('edge-control-plane')}"
    except PackageNotFoundError:
        return "edge-admin-webhooks/0"


USER_AGENT = _user_agent()


class Pinner(Protocol):
    """SsrfGuard.pin: parse, check, resolve; raises InvalidValueError when refused. For an IP
    literal it must not block (no DNS is involved), so the transport calls it on the loop."""

    def pin(self, url: str) -> tuple[Destination, list[IPAddress]]: ...


def pinned_url(destination: Destination, ip: IPAddress) -> str:
    host = f"[{ip}]" if isinstance(ip, IPv6Address) else str(ip)
    return f"{destination.scheme}://{host}:{destination.port}{destination.target}"


class _NoResolver(AbstractResolver):
    """Every request URL carries a pinned IP; a name reaching the client would be a bug."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(f"refusing to resolve {host!r}: webhook requests use pinned addresses")

    async def close(self) -> None:
        return None


class HttpWebhookTransport:
    """POSTs signed bodies to pinned addresses over one keep-alive connection pool per event
    loop. aiohttp keys pooled connections by (IP, port, TLS, server_hostname), so a connection
    is only reused for a request pinned to the same address with the same SNI."""

    def __init__(self, guard: Pinner, timeout: float, max_connections: int = 256) -> None:
        self.guard = guard
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the session belongs to
        self._literal: dict[str, bool] = {}  # URL -> its host is an IP literal (pure, cached)

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and not session.closed and self._loop is loop:
            return session
        if session is not None and not session.closed:
            session.detach()  # made on a loop that is gone: its sockets went with it
        self._loop = loop
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, use_dns_cache=False, resolver=_NoResolver(),
            keepalive_timeout=5.0,  # httpx's default; below most servers' idle timeouts
        )
        # Timeouts: one asyncio.timeout per address in send() bounds connect, write and read.
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def _pin(self, url: str) -> tuple[Destination, list[IPAddress]]:
        """The full check on every attempt; only a name (getaddrinfo blocks) leaves the loop."""
        literal = self._literal.get(url)
        if literal is None:
            try:
                literal = parse_destination(url).ip is not None
            except InvalidValueError:
                literal = True  # the guard refuses it without DNS
            if len(self._literal) >= 10_000:
                self._literal.clear()
            self._literal[url] = literal
        if literal:  # checked in microseconds
            return self.guard.pin(url)
        return await asyncio.to_thread(self.guard.pin, url)

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        try:
            destination, ips = await self._pin(url)
        except InvalidValueError as exc:
            if isinstance(exc, UnresolvedHostError):
                return Sent(error=f"DNS: {exc.message}")
            return Sent(error=f"destination refused: {exc.message}", denied=True)
        request_headers = {
            **headers, "Host": destination.authority, "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        sni = destination.host if destination.scheme == "https" and destination.ip is None else None
        client = self._client()
        result = Sent(error="no address to connect to")
        for ip in ips[:MAX_ADDRESSES]:
            # encoded=True: the path and query go out exactly as the URL that was checked had them
            target = URL(pinned_url(destination, ip), encoded=True)
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._post(client, target, body, request_headers, sni)
            except aiohttp.ClientConnectorError as exc:  # refused, unreachable, TLS handshake:
                result = Sent(error=f"connect to {ip} failed: {_reason(exc)}")  # try the next
            except TimeoutError:
                return Sent(error=f"no answer within {self.timeout:g}s")
            except aiohttp.ClientError as exc:
                return Sent(error=f"{type(exc).__name__}: {exc}")
        return result

    @staticmethod
    async def _post(
        client: aiohttp.ClientSession, url: URL, body: bytes, headers: dict[str, str],
        sni: str | None,
    ) -> Sent:
        async with client.post(url, data=body, headers=headers, allow_redirects=False,
                               server_hostname=sni) as response:
            read = 0
            while read < MAX_RESPONSE_BYTES:  # an unread rest closes the connection on release
                chunk = await response.content.readany()
                if not chunk:
                    break
                read += len(chunk)
            return Sent(status_code=response.status,
                        retry_after=response.headers.get("Retry-After"))

    async def close(self) -> None:
        session, loop, self._session, self._loop = self._session, self._loop, None, None
        if session is None or session.closed:
            return
        if loop is asyncio.get_running_loop():
            await session.close()
        else:
            session.detach()


def _reason(exc: aiohttp.ClientConnectorError) -> str:
    cause = exc.os_error
    return cause.strerror or str(cause) or type(cause).__name__


class ViewWebhookTargets:
    """Finds a webhook in the read model and unseals its secret and headers for a delivery;
    None when it was deleted. Answers found are reused for `ttl` seconds (webhooks are
    immutable, so only a deletion can be missed, and only for that long); a miss is not, since
    it may be a webhook the read model does not hold yet (rebuilt after an upgrade) that the
    next look finds. A secret that does not open raises UnsealError, after `unsealing` has
    logged and counted it."""

    def __init__(self, view: TableView, reads: WebhookReads, box: SecretBox,
                 ttl: float = 2.0, unsealing: UnsealFailures | None = None) -> None:
        self.view, self.reads = view, reads
        self.box = box
        self.ttl = ttl
        self.unsealing = unsealing or UnsealFailures()
        self._lock = threading.Lock()
        self._cache: dict[UUID, tuple[float, WebhookTarget]] = {}

    def __call__(self, webhook_id: UUID) -> WebhookTarget | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(webhook_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        webhook = self.reads.webhooks.get(webhook_id)
        target = None
        if webhook is not None:
            secret, headers = open_checked(self.reads, self.box, self.unsealing, webhook)
            target = WebhookTarget(url=webhook.url, secret=secret, headers=headers)
        elif (hook := self.view.get("deployment_hooks", webhook_id)) is not None:
            # A deployment's webhook_on_<kind>: signed with the secret its 202 answer gave.
            try:
                secret = reveal(self.box, hook["secret"]).encode()
            except UnsealError as exc:
                self.unsealing.failed(f"deployment {hook['request_id']} hook secret", exc,
                                      partial(_deployment_live, self.view, hook["request_id"]))
                raise
            target = WebhookTarget(url=hook["url"], secret=secret, headers={})
        if target is None:
            return None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[webhook_id] = (now, target)
        return target


def open_checked(
    reads: WebhookReads, box: SecretBox, unsealing: UnsealFailures, webhook: WebhookRecord
) -> tuple[bytes, dict[str, str]]:
    """open_webhook, a failure logged and counted (until the webhook is deleted)."""
    try:
        return open_webhook(box, webhook)
    except UnsealError as exc:
        unsealing.failed(f"webhook {webhook.id}", exc, partial(reads.exists, webhook.id))
        raise


def check_webhook_secrets(reads: WebhookReads, box: SecretBox, unsealing: UnsealFailures) -> int:
    """The start-up check: every webhook's secret opens (microseconds each); returns how many
    do not, each already logged and reported to readiness."""
    failed = 0
    for webhook in reads.all():
        try:
            open_checked(reads, box, unsealing, webhook)
        except UnsealError:
            failed += 1
    return failed


def _deployment_live(view: TableView, request_id: str) -> bool:
    """A deployment's hook deliveries go on until it is terminated."""
    row = view.get("deployments", request_id)
    return row is not None and row["status"] != Status.TERMINATED.value
