"""The deployment health check against real servers on loopback: an HTTP server answering a
status per path (or never), TCP servers that keep or drop connections, and a closed port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest

from application.agent_protocol import ContainerSpec, HealthCheck, PortMapping
from entrypoints.agent.container_health import (
    HEALTH_LABEL,
    PORTS_LABEL,
    labelled_spec,
    probe,
    published_address,
    spec_labels,
    wait_healthy,
)
from entrypoints.agent.containers import container_config

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HOST = "127.0.0.1"


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())
    return run


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    # Without SO_REUSEADDR the kernel hands out no port that an earlier test's connection
    # still holds (TIME_WAIT, FIN_WAIT2); with it, half of these servers got such a port. A
    # connection meeting an old one's remains can be reset (a SYN into FIN_WAIT2 is), which
    # is the likeliest reading of the "connection refused" CI once got from a listening
    # server here (it did not reproduce on this machine).
    server = await asyncio.start_server(closing, HOST, 0, reuse_address=False)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def http_server(statuses: dict[str, int], seen: list[str], delay: float = 0.0) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        seen.append(path)
        await asyncio.sleep(delay)
        status = statuses.get(path, 404)
        writer.write(f"HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    return handle


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def check(**fields: Any) -> HealthCheck:
    return msgspec.convert({"port": 8080, "interval_seconds": 0.05, "timeout_seconds": 0.5,
                            **fields}, HealthCheck)


@in_loop
async def test_an_http_check_passes_on_the_expected_status_of_its_path() -> None:
    seen: list[str] = []
    async with serving(http_server({"/healthz": 204, "/": 200}, seen)) as port:
        assert await probe(check(path="/healthz", expected_status=204), HOST, port) is None
        assert await probe(check(), HOST, port) is None
    assert seen == ["/healthz", "/"]


@in_loop
async def test_a_wrong_status_fails_and_says_which() -> None:
    seen: list[str] = []
    async with serving(http_server({"/": 200}, seen)) as port:
        found = await wait_healthy(check(path="/missing", retries=3), HOST, port)
        wrong = await probe(check(expected_status=204), HOST, port)
    assert found == "GET /missing answered 404 (expected 200)"
    assert seen == ["/missing"] * 3 + ["/"]  # each retry probed again
    assert wrong == "GET / answered 200 (expected 204)"


@in_loop
async def test_a_path_outside_ascii_is_sent_percent_encoded() -> None:
    seen: list[str] = []
    async with serving(http_server({"/caf%C3%A9?x=1": 200}, seen)) as port:
        assert await probe(check(path="/café?x=1"), HOST, port) is None


@in_loop
async def test_a_closed_port_fails_as_refused() -> None:
    port = closed_port()
    found = await wait_healthy(check(retries=2), HOST, port)
    assert found is not None
    assert found == f"cannot connect to {HOST}:{port}: connection refused"
    assert await probe(check(type="tcp"), HOST, port) == found


@in_loop
async def test_an_answer_slower_than_the_timeout_fails() -> None:
    seen: list[str] = []
    async with serving(http_server({"/": 200}, seen, delay=1.0)) as port:
        began = time.monotonic()
        found = await probe(check(timeout_seconds=0.2), HOST, port)
        took = time.monotonic() - began
        # Within its timeout, the same server passes.
        assert await probe(check(timeout_seconds=2), HOST, port) is None
    assert found == f"no answer from {HOST}:{port} within 0.2s"
    assert 0.2 <= took < 0.9


@in_loop
async def test_a_silent_server_or_one_that_never_answers_http_fails_the_http_check() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH\r\n")
        await writer.drain()
        await reader.read()

    async with serving(silent) as port:
        assert await probe(check(timeout_seconds=0.2), HOST, port) == (
            f"no answer from {HOST}:{port} within 0.2s")
    async with serving(hang_up) as port:
        assert await probe(check(), HOST, port) == (
            "GET /: the connection was closed without an answer")
    async with serving(babble) as port:
        assert await probe(check(), HOST, port) == (
            "GET /: not an HTTP answer: b'SSH-2.0-OpenSSH\\r\\n'")

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 " + b"A" * 100_000)
        await writer.drain()

    async def odd_digits(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 \xb2\xb3\xb9 OK\r\n\r\n")  # latin-1 digits int() refuses
        await writer.drain()

    async with serving(endless) as port:
        assert await probe(check(), HOST, port) == (
            "GET /: not an HTTP answer (a first line over 64 KiB)")
    async with serving(odd_digits) as port:
        assert await probe(check(), HOST, port) == (
            "GET /: not an HTTP answer: b'HTTP/1.1 \\xb2\\xb3\\xb9 OK\\r\\n'")


@in_loop
async def test_a_tcp_check_passes_when_the_connection_stays_open_or_greets() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def greets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hello\r\n")
        await writer.drain()
        await reader.read()

    for handler in (silent, greets):
        async with serving(handler) as port:
            assert await probe(check(type="tcp"), HOST, port) is None


@in_loop
async def test_a_tcp_connection_dropped_at_once_fails_like_a_forwarder_with_nothing_behind(
) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with serving(drop) as port:
        found = await wait_healthy(check(type="tcp", retries=2), HOST, port)
    assert found == f"{HOST}:{port} closed the connection at once (nothing listening behind it?)"


@in_loop
async def test_failures_within_the_start_period_do_not_count() -> None:
    seen: list[str] = []
    statuses: dict[str, int] = {}
    async with serving(http_server(statuses, seen)) as port:
        policy = check(retries=1, interval_seconds=0.05, start_period_seconds=0.5)

        async def comes_up() -> None:
            await asyncio.sleep(0.3)
            statuses["/"] = 200

        up = asyncio.ensure_future(comes_up())
        assert await wait_healthy(policy, HOST, port) is None
        await up
    assert len(seen) >= 3  # failed probes within the period, then the passing one

    # Past the start period, `retries` failures end it.
    async with serving(http_server({}, seen)) as port:
        began = time.monotonic()
        found = await wait_healthy(check(retries=2, start_period_seconds=0.3), HOST, port)
    assert found == "GET / answered 404 (expected 200)"
    assert time.monotonic() - began >= 0.3


@in_loop
async def test_it_passes_as_soon_as_one_probe_passes() -> None:
    seen: list[str] = []
    statuses: dict[str, int] = {}
    async with serving(http_server(statuses, seen)) as port:
        async def comes_up() -> None:
            while len(seen) < 2:
                await asyncio.sleep(0.01)
            statuses["/"] = 200

        up = asyncio.ensure_future(comes_up())
        assert await wait_healthy(check(retries=5), HOST, port) is None
        await up
    assert 3 <= len(seen) <= 4


@pytest.mark.parametrize(("binding", "address"), [
    ({"HostIp": "", "HostPort": "40001"}, ("127.0.0.1", 40001)),
    ({"HostIp": "0.0.0.0", "HostPort": "40001"}, ("127.0.0.1", 40001)),
    ({"HostIp": "127.0.0.2", "HostPort": "40002"}, ("127.0.0.2", 40002)),
    ({"HostIp": "", "HostPort": ""}, None),
])
def test_the_check_reaches_the_port_published_for_the_containers_port(
    binding: dict[str, str], address: tuple[str, int] | None
) -> None:
    published = {"8080/tcp": [binding], "9090/tcp": [{"HostIp": "", "HostPort": "1"}]}
    assert published_address(check(), published) == address
    assert published_address(check(port=7070), published) is None
    assert published_address(check(), {"8080/tcp": None}) is None


def test_a_containers_labels_keep_its_ports_and_check_for_a_restarted_agent() -> None:
    ports = [PortMapping(port=8080, protocol="HTTP", name="web")]
    spec = ContainerSpec(request_id="abc", image="x:1", ports=ports, env={"SECRET": "s"},
                         cpu_units=256, memory_mb=64, health=check(path="/caf\u00e9"))
    labels = spec_labels(spec)
    assert "SECRET" not in str(labels)
    found = labelled_spec("abc", labels)
    assert found is not None
    assert (found.request_id, found.ports, found.health) == ("abc", ports, spec.health)
    plain = ContainerSpec(request_id="abc", image="x:1", ports=ports, env={}, cpu_units=256,
                          memory_mb=64)
    assert set(spec_labels(plain)) == {PORTS_LABEL}  # a restarted agent reports it ready
    found_plain = labelled_spec("abc", spec_labels(plain))
    assert found_plain is not None and (found_plain.ports, found_plain.health) == (ports, None)
    # An older agent labelled its containers with the ports as it got them (dicts): the same.
    older = '[{"name": "web", "port": 8080, "protocol": "HTTP", "tls_upgrade": false}]'
    assert labelled_spec("abc", {**labels, PORTS_LABEL: older}) == found
    assert labelled_spec("abc", {}) is None  # made by an agent that labelled no ports
    assert labelled_spec("abc", {**labels, HEALTH_LABEL: '{"port": 0}'}) is None
    assert labelled_spec("abc", {**labels, HEALTH_LABEL: "not json"}) is None


def test_a_checked_port_the_spec_does_not_publish_is_published_on_loopback_alone() -> None:
    ports = [PortMapping(port=8080, protocol="UDP", name="game")]
    base = ContainerSpec(request_id="abc", image="x:1", ports=ports, env={}, cpu_units=256,
                         memory_mb=64)
    plain = container_config(base)
    assert plain["HostConfig"]["PortBindings"] == {"8080/udp": [{"HostIp": "", "HostPort": ""}]}
    assert set(plain["Labels"]) == {"edge.request_id", PORTS_LABEL}
    checked = container_config(msgspec.structs.replace(base, health=check(type="tcp")))
    assert checked["HostConfig"]["PortBindings"] == {
        "8080/udp": [{"HostIp": "", "HostPort": ""}],
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert set(checked["ExposedPorts"]) == {"8080/udp", "8080/tcp"}
    http = msgspec.structs.replace(ports[0], protocol="HTTP")
    served = msgspec.structs.replace(base, ports=[http], health=check())
    assert container_config(served)["HostConfig"]["PortBindings"] == {
        "8080/tcp": [{"HostIp": "", "HostPort": ""}]}
