"""What the webhook integration tests share: a real HTTP receiver that verifies signatures,
relay + worker running in a background event loop, NATS stream helpers and event writers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nats
import nats.js.errors
import pytest
from standardwebhooks import Webhook as ReferenceWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.signing import SignatureError, receiver_secret, verify_edge
from entrypoints.bootstrap import Services
from entrypoints.workers.webhooks import run_worker

NATS_URL = "nats://127.0.0.1:4222"
SECRET = "receiver-shared-secret-0123456789abcdef"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    standard_ok: bool
    edge_ok: bool


Reply = tuple[int, dict[str, str]]


@dataclass
class Receiver:
    """A local HTTP server; each path answers from a script (the last reply repeats)."""

    secret: bytes = SECRET.encode()
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def reply(self, path: str) -> Reply:
        with self.lock:
            script = self.scripts.get(path) or [(200, {})]
            return script.pop(0) if len(script) > 1 else script[0]

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            ReferenceWebhook(receiver_secret(self.secret)).verify(body, headers, json_parse=False)
            standard_ok = True
        except WebhookVerificationError:
            standard_ok = False
        try:
            verify_edge(headers.get("X-Edge-Signature", ""), body, self.secret, int(time.time()))
            edge_ok = True
        except SignatureError:
            edge_ok = False
        with self.lock:
            self.received.append(Received(path, headers, body, time.monotonic(), standard_ok,
                                          edge_ok))

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # the http.server protocol names it
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                receiver.record(self.path, dict(self.headers.items()), body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, headers = receiver.reply(self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


OPEN_LOOPS: list[asyncio.AbstractEventLoop] = []


def close_loops() -> None:
    """Closes finished Background loops once their services are closed: until then a LISTEN
    thread may still call relay.wake(), which schedules onto the loop the relay last ran on."""
    while OPEN_LOOPS:
        OPEN_LOOPS.pop().close()


class Background:
    """Runs the relay and the webhook worker of `services` in an event loop thread."""

    def __init__(self, services: Services, relay: bool = True, worker: bool = True) -> None:
        self.services = services
        self.relay, self.worker = relay, worker
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stop: asyncio.Event | None = None
        self.future: Any = None

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        jobs = [run_worker(self.services, self.stop)] if self.worker else []
        if self.relay:
            jobs.append(self.services.relay.run(self.stop))
        await asyncio.gather(*jobs)

    def __enter__(self) -> Background:
        self.thread.start()
        self.future = asyncio.run_coroutine_threadsafe(self._main(), self.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        try:
            self.future.result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            OPEN_LOOPS.append(self.loop)


def stream_names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"T_{tag.upper()}", f"t{tag}."


async def _nats_up() -> bool:
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0,
                                allow_reconnect=False)
    except Exception:  # noqa: BLE001 - any failure means "skip"
        return False
    await nc.close()
    return True


def nats_available() -> bool:
    return asyncio.run(_nats_up())


def delete_stream(name: str) -> None:
    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(name)
        await nc.close()

    asyncio.run(drop())


def stream_positions(name: str) -> list[int]:
    """Edge-Position of every message in the stream, in stream order."""

    async def read() -> list[int]:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(name)
        positions = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(name, seq)
            positions.append(int((msg.headers or {})["Edge-Position"]))
        await nc.close()
        return positions

    return asyncio.run(read())


def last_stream_position(name: str) -> int | None:
    async def read() -> int | None:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(name)
            except nats.js.errors.NotFoundError:  # the relay has not created it yet
                return None
            if not info.state.messages:
                return None
            msg = await js.get_msg(name, info.state.last_seq)
            return int((msg.headers or {})["Edge-Position"])
        finally:
            await nc.close()

    return asyncio.run(read())


def write_registrations(services: Services, count: int, batch: int = 50) -> None:
    """`count` edge.node.registered (and as many internal-to-webhooks status) events, written
    straight to the store in batches, as other processes' commands would."""
    now, cluster = datetime.now(UTC), uuid.uuid4()
    for start in range(0, count, batch):
        nodes = []
        for _ in range(min(batch, count - start)):
            node = Node.register(uuid.uuid4(), cluster, "hooks", IdType.RANDOM, "1.0", False, {},
                                 ("t", "p"), uuid.uuid4(), now)
            node.change_status(NodeStatus.UNHEALTHY, "test", now)
            nodes.append(node)
        services.store.save(*nodes)
        services.projector.wake()
        services.relay.wake()


# The fixtures the webhook tests share; a test module imports them by name.
@pytest.fixture(autouse=True)
def loops_closed() -> Iterator[None]:
    yield
    close_loops()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def nats_settings() -> Iterator[dict[str, Any]]:
    """Settings for a private JetStream stream, deleted afterwards."""
    if not nats_available():
        pytest.skip("NATS is not reachable at " + NATS_URL)
    stream, prefix = stream_names()
    yield {"nats_url": NATS_URL, "nats_stream": stream, "nats_subject_prefix": prefix,
           "webhook_allow_private_ips": True, "webhook_timeout": 2.0}
    delete_stream(stream)
