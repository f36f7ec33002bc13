"""Webhook deliveries/s end to end, and commit -> first delivery attempt latency.

Run: .venv/bin/python -m bench.webhooks [--events N] [--webhooks W] [--latency-events L]
A fresh PostgreSQL schema and JetStream stream; a receiver in its own process on 127.0.0.1 that
verifies the X-Edge-Signature of every request. Throughput: N public events written straight to
the store, then relay + worker run until all N*W signed deliveries arrived. Latency: L status
changes through the normal write path at --rate per second; each commit's time (taken by a
WritePath observer) is compared with the first attempt of each of its W deliveries at the
receiver. Both sides read CLOCK_MONOTONIC (time.monotonic), which is system-wide on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats
import nats.js.errors
import psycopg

from application.webhooks import CreateWebhook
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.signing import SignatureError, verify_edge
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from entrypoints.workers.webhooks import run_worker

BASE = "postgresql://postgres@127.0.0.1:5432/test"
NATS = "nats://127.0.0.1:4222"
SECRET = "bench-receiver-secret-0123456789abcdef"
EVENTS = ["edge.node.registered", "edge.node.status_changed"]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
BAD = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"  # terminal: the worker counts it


# --- the receiver (runs in its own process: `python -m bench.webhooks --receive`) ----------
class _Position(msgspec.Struct):
    position: int


class Tally:
    """What the receiver saw: verified requests, and the first arrival of each delivery."""

    def __init__(self) -> None:
        self.ok = self.bad = 0
        self.first_at = self.last_at = 0.0
        self.first: dict[str, tuple[int, float]] = {}  # webhook-id -> (position, arrival)

    def record(self, headers: dict[bytes, bytes], body: bytes) -> bool:
        at = time.monotonic()
        try:
            verify_edge(headers.get(b"x-edge-signature", b"").decode(), body, SECRET.encode(),
                        int(time.time()))
        except SignatureError:
            self.bad += 1
            return False
        self.ok += 1
        self.first_at = self.first_at or at
        self.last_at = at
        delivery = headers.get(b"webhook-id", b"").decode()
        if delivery not in self.first:
            self.first[delivery] = (msgspec.json.decode(body, type=_Position).position, at)
        return True

    def report(self, target: bytes) -> bytes:
        after = int(target.partition(b"after=")[2] or 0)
        arrivals = [v for v in self.first.values() if v[0] > after] if b"after=" in target else []
        return json.dumps({"ok": self.ok, "bad": self.bad, "first_at": self.first_at,
                           "last_at": self.last_at, "arrivals": arrivals}).encode()


class ReceiverProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 server with keep-alive: enough for the worker, cheap per request."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            self.respond(head[0].split(b" "), headers, body)

    def respond(self, request: list[bytes], headers: dict[bytes, bytes], body: bytes) -> None:
        assert self.transport is not None
        if request[0] == b"POST":
            self.transport.write(OK if self.tally.record(headers, body) else BAD)
            return
        answer = self.tally.report(request[1])
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(answer), answer))


async def serve() -> None:
    tally = Tally()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ReceiverProtocol(tally), "127.0.0.1", 0,
                                      backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--receive"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"
    except ValueError:
        proc.kill()
        raise SystemExit("the receiver did not start") from None


def stats(base: str, after: int | None = None) -> dict[str, Any]:
    query = "" if after is None else f"?after={after}"
    with urllib.request.urlopen(f"{base}/stats{query}", timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


# --- the bench ---------------------------------------------------------------------------
def write_nodes(services: Services, count: int) -> list[uuid.UUID]:
    """`count` public events (registered + status changed per node), 1,000 per transaction."""
    now, cluster = datetime.now(UTC), uuid.uuid4()
    ids: list[uuid.UUID] = []
    while len(ids) * 2 < count:
        nodes = []
        for _ in range(min(500, (count + 1) // 2 - len(ids))):
            node = Node.register(uuid.uuid4(), cluster, "bench", IdType.RANDOM, "1.0", False, {},
                                 ("t", "p"), uuid.uuid4(), now)
            node.change_status(NodeStatus.UNHEALTHY, "bench", now)
            nodes.append(node)
        services.store.save(*nodes)
        ids += [n.id for n in nodes]
    return ids


def wait_projected(services: Services, timeout: float) -> None:
    services.projector.wake()
    target = services.store.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while services.projector.position < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"the read model did not reach position {target}")
        time.sleep(0.05)


async def until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def throughput(base: str, expected: int, timeout: float) -> None:
    started = time.monotonic()

    async def done() -> bool:
        return int((await asyncio.to_thread(stats, base))["ok"]) >= expected

    finished = await until(done, timeout)
    got = await asyncio.to_thread(stats, base)
    end = got["last_at"] if finished else time.monotonic()
    rate, busy = got["ok"] / (end - started), got["last_at"] - got["first_at"]
    print(f"throughput: {got['ok']}/{expected} signed deliveries ({got['bad']} bad signatures) "
          f"in {end - started:.2f}s = {rate:,.0f}/s end to end (relay + fan-out + delivery)"
          + (f"; {got['ok'] / busy:,.0f}/s first to last arrival" if busy > 0 else "")
          + ("" if finished else "  TIMED OUT"))


async def latency(services: Services, base: str, nodes: list[uuid.UUID], args: Any) -> None:
    commits: dict[int, float] = {}

    def committed(position: int) -> None:  # called by the writer right after each commit
        commits.setdefault(position, time.monotonic())

    services.writes.observers.append(committed)
    after = services.store.recorder.max_notification_id() or 0

    def write() -> None:
        for i, node in enumerate(nodes[:args.latency_events]):
            time.sleep(max(0.0, i / args.rate - (time.monotonic() - started)))
            services.nodes.set_status(node, NodeStatus.HEALTHY, "bench")

    started = time.monotonic()
    await asyncio.to_thread(write)
    expected = len(commits) * int(args.webhooks)

    async def done() -> bool:
        return len((await asyncio.to_thread(stats, base, after))["arrivals"]) >= expected

    finished = await until(done, 30)
    lags = sorted(at - commits[pos] for pos, at in (await asyncio.to_thread(stats, base, after))
                  ["arrivals"] if pos in commits)
    if not lags:
        print("latency: no deliveries arrived")
        return
    p50, p99 = (lags[math.ceil(q * len(lags)) - 1] for q in (0.5, 0.99))  # nearest rank
    print(f"latency: {len(commits)} commits at {args.rate:g}/s, {len(lags)}/{expected} deliveries;"
          f" commit -> first attempt p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {lags[-1] * 1000:.1f} ms" + ("" if finished else "  TIMED OUT"))


async def run(services: Services, base: str, nodes: list[uuid.UUID], args: Any) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_worker(services, stop)),
             asyncio.create_task(services.relay.run(stop))]
    try:
        await throughput(base, args.events * args.webhooks, args.timeout)
        await latency(services, base, nodes, args)
    finally:
        stop.set()
        for failed in await asyncio.gather(*tasks, return_exceptions=True):
            if failed is not None:
                print(f"relay/worker stopped with {failed!r}")
    assert services.deliverer is not None
    print(f"worker: {services.deliverer.counts}")


def bench(base_url: str, args: Any) -> None:
    stream = "BENCH_" + uuid.uuid4().hex[:8].upper()
    env = {"DATABASE_URL": base_url, "API_KEY": "bench", "NATS_URL": NATS,
           "NATS_STREAM": stream, "NATS_SUBJECT_PREFIX": f"{stream.lower()}.",
           "WEBHOOK_ALLOW_PRIVATE_IPS": "true", "WEBHOOK_TIMEOUT_SECONDS": "5"}
    receiver, base = start_receiver()
    services: Services | None = None
    try:
        services = build_services(Settings.from_env(env))
        services.start()
        for i in range(args.webhooks):
            services.webhooks.create(CreateWebhook(url=f"{base}/hook/{i}", secret=SECRET,
                                                   subscribed_events=EVENTS))
        started = time.monotonic()
        nodes = write_nodes(services, args.events)
        wait_projected(services, args.timeout)
        print(f"wrote {args.events} public events and projected them in "
              f"{time.monotonic() - started:.1f}s; {args.webhooks} webhooks")
        asyncio.run(run(services, base, nodes, args))
    finally:
        if services is not None:
            services.close()
        receiver.communicate(timeout=10)  # closes its stdin: it exits

        async def drop() -> None:
            nc = await nats.connect(NATS)
            with contextlib.suppress(nats.js.errors.NotFoundError):  # never created
                await nc.jetstream().delete_stream(stream)
            await nc.close()

        asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--webhooks", type=int, default=2)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0, help="latency run commits per second")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        asyncio.run(serve())
        return
    args.latency_events = min(args.latency_events, (args.events + 1) // 2)
    schema = "bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        bench(f"{BASE}?schema={schema}", args)
    finally:
        with psycopg.connect(BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
