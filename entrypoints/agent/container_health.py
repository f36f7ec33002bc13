"""The health check of a deployment's container, run by the agent from its own host against the
port the engine published for the container: a deployment with a health policy is reported
ready only once it serves, and failed with the last probe's result when it does not.

(entrypoints/agent/health.py is the agent's check of its own node, reported in heartbeats.)
A probe is an HTTP GET answered with the expected status, or a TCP connection the other side
keeps open: an engine's port forwarder (podman's rootlessport, docker-proxy) accepts a
connection on the host even when nothing listens in the container, then drops it at once.
The ports (and the check, if any) ride on the container's labels, so an agent restarted while
checking (a self-update re-executes it), or before it reported a started container ready,
checks again if there is a check and reports the deployment ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import msgspec

from application.agent_protocol import ContainerSpec, HealthCheck, PortMapping

LOOPBACK = "127.0.0.1"
HEALTH_LABEL = "edge.health"  # a container's HealthCheck, JSON (health-checked ones only)
PORTS_LABEL = "edge.ports"  # its spec's ports, JSON (every container since ports were kept)
# How long a TCP probe waits to see whether the accepted connection is dropped at once.
TCP_SETTLE = 0.1
# The first wait before an early probe while a container starts (wait_healthy).
FIRST_EARLY = 0.05
STATUS_LINE = 256  # bytes of an answer's first line worth reading or quoting
STATUS = re.compile(r"[0-9]{3}")
# Kept as they are in a request line; everything else (non-ASCII) is percent-encoded.
PATH_SAFE = "".join(chr(c) for c in range(33, 127))


def spec_labels(spec: ContainerSpec) -> dict[str, str]:
    """Labels of a deployment's container: what an agent restarted before it reported the
    deployment ready (a self-update, a crash) needs to report it: its ports, and its check."""
    labels = {PORTS_LABEL: msgspec.json.encode(spec.ports).decode()}
    if spec.health is not None:
        labels[HEALTH_LABEL] = msgspec.json.encode(spec.health).decode()
    return labels


def labelled_spec(request_id: str, labels: dict[str, str]) -> ContainerSpec | None:
    """The part of its spec a found container's labels keep: its ports and its health check
    (None: labels this agent cannot read, or an agent that labelled no ports made it)."""
    try:
        ports = msgspec.json.decode(labels[PORTS_LABEL], type=list[PortMapping])
        check = (msgspec.json.decode(labels[HEALTH_LABEL], type=HealthCheck)
                 if HEALTH_LABEL in labels else None)
    except (KeyError, msgspec.DecodeError):
        return None
    return ContainerSpec(request_id=request_id, image="", ports=ports, env={}, cpu_units=0,
                         memory_mb=0, health=check)


def published_address(check: HealthCheck, published: dict[str, Any]) -> tuple[str, int] | None:
    """Where the check reaches the container's `check.port` from this host, from the engine's
    NetworkSettings.Ports; None when that port is not published."""
    binding = (published.get(f"{check.port}/tcp") or [{}])[0]
    port = int(binding.get("HostPort") or 0)
    if not port:
        return None
    host = binding.get("HostIp") or ""
    return (LOOPBACK if host in ("", "0.0.0.0", "::") else host), port  # noqa: S104 - read


async def probe(check: HealthCheck, host: str, port: int) -> str | None:
    """One probe within `check.timeout_seconds`: None when it passes, else what it found."""
    try:
        async with asyncio.timeout(check.timeout_seconds):
            if check.type == "tcp":
                return await _tcp(host, port)
            return await _http(check, host, port)
    except TimeoutError:
        return f"no answer from {host}:{port} within {check.timeout_seconds:g}s"
    except ConnectionRefusedError:
        return f"cannot connect to {host}:{port}: connection refused"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


async def wait_healthy(check: HealthCheck, host: str, port: int,
                       seen: Callable[[str | None], None] | None = None) -> str | None:
    """Probes until one passes (None) or `retries` in a row have failed (the last one's
    result); `seen` hears each probe's result. The policy's probes come one per
    `interval_seconds` from the first, and only those count: failures that end within
    `start_period_seconds` of the first probe do not (the app may still be starting). Between
    them, early probes back off from FIRST_EARLY up to the interval (early_delays): the server
    in a new container usually binds a moment after the first probe, and waiting a whole
    interval for the second one made a start take twice as long. An early probe that passes
    ends the check; one that fails counts for nothing, so a check fails no sooner than before."""
    loop = asyncio.get_running_loop()
    counted_from = loop.time() + check.start_period_seconds
    next_counted = loop.time()
    early = early_delays(check.interval_seconds)
    failures = 0
    while True:
        counted = loop.time() >= next_counted
        if counted:
            next_counted = loop.time() + check.interval_seconds
        found = await probe(check, host, port)
        if seen is not None:
            seen(found)
        if found is None:
            return None
        if counted and loop.time() >= counted_from:
            failures += 1
            if failures >= check.retries:
                return found
        await asyncio.sleep(min(next(early), max(next_counted - loop.time(), 0.0)))


def early_delays(interval: float) -> Iterator[float]:
    """FIRST_EARLY, doubling, then the interval for good: the waits before early probes."""
    delay = min(FIRST_EARLY, interval)
    while True:
        yield delay
        delay = min(delay * 2, interval)


async def _http(check: HealthCheck, host: str, port: int) -> str | None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        target = quote(check.path, safe=PATH_SAFE)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: edge-agent"
                     "\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        line = exc.partial
    except asyncio.LimitOverrunError:
        return f"GET {check.path}: not an HTTP answer (a first line over 64 KiB)"
    finally:
        await _close(writer)
    if not line:
        return f"GET {check.path}: the connection was closed without an answer"
    parts = line[:STATUS_LINE].decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not STATUS.fullmatch(parts[1]):
        return f"GET {check.path}: not an HTTP answer: {line[:80]!r}"
    status = int(parts[1])
    if status != check.expected_status:
        return f"GET {check.path} answered {status} (expected {check.expected_status})"
    return None


async def _tcp(host: str, port: int) -> str | None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        try:
            first = await asyncio.wait_for(reader.read(1), TCP_SETTLE)
        except TimeoutError:
            return None  # kept open, silent: a server waiting for its client
        except OSError as exc:  # reset
            return f"{host}:{port} dropped the connection: {exc.strerror or exc}"
        if not first:
            return f"{host}:{port} closed the connection at once (nothing listening behind it?)"
        return None  # a greeting
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
