"""Connections between agents and their admin: an agent keeps one connection for its reports
instead of opening one each, the admin keeps idle connections as HTTP_KEEP_ALIVE_SECONDS says
and closes those that send no whole request head (or, after it, no whole body) in that time,
an admin started with a low limit of open files raises it before agents use it up, and one
near a limit it cannot raise says so."""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
import uuid

import httpx
import pytest

from entrypoints.agent.runner import ADMIN_KEEPALIVE_SECONDS
from entrypoints.settings import Settings
from tests.e2e.agent_fixtures import Agents, eventually

pytestmark = pytest.mark.e2e
HEARTBEAT = "POST /agent/v1/heartbeat "


class CountingProxy:
    """A TCP proxy in front of the admin that counts the connections made through it and the
    heartbeats sent over them."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0
        self.heartbeats = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._pumps: set[asyncio.Task[None]] = set()

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _close(self) -> None:
        self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pumps = [asyncio.create_task(self._pump(reader, up_writer, count=True)),
                 asyncio.create_task(self._pump(up_reader, writer, count=False))]
        self._pumps.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._pumps.difference_update(pumps)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    count: bool) -> None:
        seen = b""
        try:
            while data := await reader.read(65536):
                if count:  # a request line cut between two reads is still counted once
                    seen = seen[-len(HEARTBEAT) + 1:] + data
                    self.heartbeats += seen.count(HEARTBEAT.encode())
                    seen = seen[-len(HEARTBEAT) + 1:]
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


def answered(conn: socket.socket) -> bytes:
    """One whole answer to a request sent on `conn` (head, then Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head


def test_an_agent_sends_its_reports_over_the_connections_it_keeps(own_admin: Agents) -> None:
    agents, server = own_admin, own_admin.admin
    # Heartbeats 5.1-6 s apart: longer than httpx's and uvicorn's default keep-alive (5 s).
    server.env.update(HEARTBEAT_INTERVAL_SECONDS="6", NODE_UNHEALTHY_AFTER_SECONDS="30",
                      NODE_UNREACHABLE_AFTER_SECONDS="60")
    server.start()
    cluster, key = server.new_cluster()
    with CountingProxy(server.port) as proxy:
        agents.start("a", key, "--id-type", "random", "--metrics-interval", "0",
                     admin_url=f"http://127.0.0.1:{proxy.port}")
        eventually(lambda: proxy.heartbeats >= 3, "three heartbeats", agents.children,
                   timeout=30)
        # One for the long poll for work, which is never idle, and one for the rest.
        assert proxy.connections <= 2, (proxy.connections, proxy.heartbeats)
    assert len(server.nodes(cluster)) == 1


def closed_within(conn: socket.socket, seconds: float, trickle: bytes | None) -> None:
    """The admin closes `conn` within `seconds`, while `trickle` (if any) is sent a byte at a
    time every 0.2 s."""
    started = time.monotonic()
    closed = False
    while trickle is not None and not closed and time.monotonic() - started < seconds:
        time.sleep(0.2)
        try:
            conn.sendall(trickle)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    if not closed:
        try:
            assert conn.recv(1) == b""  # closed by the admin
        except ConnectionResetError:
            pass  # closed by the admin with our bytes unread
    assert time.monotonic() - started < seconds


def test_the_admin_closes_a_connection_idle_for_http_keep_alive_seconds(
    own_admin: Agents
) -> None:
    server = own_admin.admin
    server.env["HTTP_KEEP_ALIVE_SECONDS"] = "1"
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: admin\r\n\r\n")
        assert answered(conn).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert conn.recv(1) == b""  # closed by the admin
        # uvicorn's default would have waited 5 s.
        assert 0.8 < time.monotonic() - started < 3


@pytest.mark.parametrize("trickle", [False, True], ids=["nothing", "a byte now and then"])
def test_a_connection_that_sends_no_whole_request_head_is_closed(
    own_admin: Agents, trickle: bool
) -> None:
    server = own_admin.admin
    server.env["HTTP_KEEP_ALIVE_SECONDS"] = "1"
    server.start()
    for answered_first in (False, True):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            if answered_first:  # the same after an answer, on a kept connection
                conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: admin\r\n\r\n")
                assert answered(conn).startswith(b"HTTP/1.1 200")
            if trickle:  # a head that never ends: uvicorn alone would wait for it forever
                conn.sendall(b"GET /healthz HTTP/1.1\r\nx-slow: ")
            closed_within(conn, 3, b"a" if trickle else None)


def test_a_request_whose_body_never_ends_is_closed(own_admin: Agents) -> None:
    """A head in whole, then a body a byte at a time, to a route that needs no key: uvicorn
    alone waits for the rest forever, so one client could hold every descriptor this way."""
    server = own_admin.admin
    server.env["HTTP_KEEP_ALIVE_SECONDS"] = "1"
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"POST /agent/v1/enroll HTTP/1.1\r\nhost: admin\r\n"
                     b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{")
        closed_within(conn, 5, b" ")


def test_the_agent_closes_first_and_outlasts_its_reports() -> None:
    admin_keeps = Settings.from_env({}).http_keep_alive
    told = Settings.from_env({}).heartbeat_interval
    assert 15 < ADMIN_KEEPALIVE_SECONDS < admin_keeps  # 15 s: metrics and host reports
    assert told < ADMIN_KEEPALIVE_SECONDS


def few_files() -> None:
    """In the admin's process before it starts: a soft limit of 256 open files, as some
    systems give services (the hard limit stays)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_an_admin_started_with_few_open_files_keeps_accepting_past_them(
    own_admin: Agents
) -> None:
    server = own_admin.admin
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < 1024:  # the admin's hard limit is at least this process's soft one
        pytest.skip(f"this process may open {soft} files; the test opens 400 sockets")
    server.start(preexec_fn=few_files)
    idle: list[socket.socket] = []
    try:
        # Agents' connections, idle: past the 256 the admin was started with.
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                for _ in range(400)]
        with httpx.Client(base_url=server.url, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
        server.data(server.http.post("/api/v1/clusters",
                                     json={"name": "c-" + uuid.uuid4().hex[:8]}))
    finally:
        for conn in idle:
            conn.close()


def at_most_256_files() -> None:
    """In the admin's process before it starts: 256 open files, soft and hard alike."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_an_admin_near_its_limit_of_open_files_says_so_and_when_it_is_clear(
    own_admin: Agents
) -> None:
    """At the limit uvloop closes each new connection unanswered, and logs nothing."""
    server = own_admin.admin
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < 1024:
        pytest.skip(f"this process may open {soft} files; the test opens 300 sockets")
    server.start(preexec_fn=at_most_256_files)
    idle: list[socket.socket] = []
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                for _ in range(300)]
        eventually(lambda: "of the 256 files this process may open are open: at the limit"
                   in server.children.log("admin"), "a warning", server.children)
    finally:
        for conn in idle:
            conn.close()
    eventually(lambda: "of the 256 files this process may open are open again"
               in server.children.log("admin"), "the all-clear", server.children)
