"""The relay's JetStream connection dropping in the middle of a pipelined batch.

A client that reconnects by itself re-sends what it still buffered on the new connection while
what the old one carried is lost: the stream then holds a later message before an earlier one,
and the acknowledgement of a lost message never comes (the relay waited for ever; CI saw it
never catch up). The publisher fails the batch instead, within a bounded wait, on a connection
that is gone; the relay sends the batch again from its tracked position and the stream holds
each message once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats
import pytest

from adapters.nats_publisher import RETRY, JetStreamPublisher, PublishError
from domain.catalog import Message
from domain.event_stream import StreamSettings
from entrypoints.bootstrap import build_lock, build_services
from tests.conftest import make_settings
from tests.integration.webhook_harness import (
    NATS_URL,
    delete_stream,
    nats_settings,
    stream_names,
    stream_positions,
)

pytestmark = pytest.mark.integration
__all__ = ["nats_settings"]  # a fixture, used by name (it skips when NATS is away)


class Cuttable:
    """A TCP proxy to NATS whose connections can be cut at once, mid-stream, dropping what it
    had read from one side and not yet written to the other (as a lost network does)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        self.forwarded = 0
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
                     ) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.writers += [client_w, server_w]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, count: bool) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(4096):
                    if count:
                        self.forwarded += len(data)
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))

    def cut(self) -> None:
        def close_all() -> None:
            for writer in self.writers:
                transport = writer.transport
                transport.abort()  # no flush: buffered bytes are lost
            self.writers.clear()
        self.loop.call_soon_threadsafe(close_all)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def proxy(nats_settings: dict[str, Any]) -> Iterator[Cuttable]:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    running = Cuttable((socket.gethostbyname(host), int(port)))
    yield running
    running.close()


class Data(msgspec.Struct):
    n: int


def messages(count: int) -> list[Message]:
    at = datetime.now(UTC)
    return [Message(id=uuid.uuid4(), type="edge.node.registered", schema_version=1,
                    source="test", position=n, occurred_at=at, subject_id=uuid.uuid4(),
                    data=Data(n)) for n in range(1, count + 1)]


def test_a_batch_cut_mid_way_fails_and_its_retry_leaves_each_message_once_in_order(
    proxy: Cuttable,
) -> None:
    stream_name, prefix = stream_names()
    publisher = JetStreamPublisher(f"nats://127.0.0.1:{proxy.port}",
                                   StreamSettings(name=stream_name, subject_prefix=prefix),
                                   ack_wait=10.0)
    batch = messages(4000)

    async def scenario() -> list[str]:
        await publisher.start()
        outcomes = []
        try:
            for _ in range(5):
                before = proxy.forwarded
                sending = asyncio.create_task(publisher.publish(batch))
                while proxy.forwarded - before < 200_000 and not sending.done():
                    await asyncio.sleep(0.001)
                proxy.cut()
                try:
                    await asyncio.wait_for(sending, 30)  # a hang fails here
                    outcomes.append("sent")
                except PublishError:
                    outcomes.append("failed")
            await asyncio.wait_for(publisher.publish(batch), 30)  # no cut: it all arrives
        finally:
            await publisher.close()
        return outcomes

    try:
        outcomes = asyncio.run(scenario())
        assert "failed" in outcomes, outcomes  # the cuts did land mid-batch
        assert stream_positions(stream_name) == [m.position for m in batch]
    finally:
        delete_stream(stream_name)


def test_a_stream_refused_at_start_is_retried_until_it_can_be_made(
    nats_settings: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    """The relay's publisher meets a stream it cannot create (another stream holds its
    subjects): one warning, retries, and it starts once the obstacle is gone, instead of the
    relay ending for good (it did: a startup race between two creators raised out of run)."""
    name, prefix = stream_names()
    blocker = f"{name}_BLOCK"
    settings = StreamSettings(name=name, subject_prefix=prefix)

    async def scenario() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_stream(name=blocker, subjects=list(settings.subjects))
        publisher = JetStreamPublisher(NATS_URL, settings)
        starting = asyncio.create_task(publisher.start())
        try:
            await asyncio.sleep(RETRY * 2.5)
            assert not starting.done()
            await js.delete_stream(blocker)
            await asyncio.wait_for(starting, RETRY * 5)
            await publisher.publish(messages(3))
        finally:
            starting.cancel()
            await publisher.close()
            with contextlib.suppress(Exception):
                await js.delete_stream(blocker)
            await nc.close()

    try:
        with caplog.at_level(logging.WARNING, logger="adapters.nats_publisher"):
            asyncio.run(scenario())
        warnings = [r for r in caplog.records if "not ready" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert stream_positions(name) == [1, 2, 3]
    finally:
        delete_stream(name)


def test_the_relay_reconnects_a_dropped_connection_with_nothing_to_publish(
    proxy: Cuttable, nats_settings: dict[str, Any],
) -> None:
    """A connection that is never re-opened by the client itself must be re-opened by the
    relay even while idle: readiness reads `connected`, and an idle relay would otherwise
    report the broker down until the next event."""
    settings = {**nats_settings, "nats_url": f"nats://127.0.0.1:{proxy.port}"}
    services = build_services(make_settings("memory://", **settings))

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(services.relay.run(stop))
        try:
            await until(lambda: services.relay.publisher.connected)
            proxy.cut()
            await until(lambda: not services.relay.publisher.connected)
            await until(lambda: services.relay.publisher.connected)
        finally:
            stop.set()
            await asyncio.wait_for(running, 15)

    try:
        asyncio.run(scenario())
    finally:
        services.close()
        delete_stream(nats_settings["nats_stream"])


def test_a_standing_by_relay_reconnects_a_dropped_connection_too(
    proxy: Cuttable, nats_settings: dict[str, Any], pg_url: str,
) -> None:
    """With another process relaying (it holds the relay lock), this one stands by: after a
    broker restart it stayed "not connected to NATS" for as long as the other led, so its
    /readyz answered 503 on an admin with nothing wrong."""
    settings = make_settings(pg_url, **{**nats_settings,
                                        "nats_url": f"nats://127.0.0.1:{proxy.port}"})
    other = build_lock(settings, "relay")  # the relaying process's lock
    assert other is not None and other.held()
    services = build_services(settings)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(services.relay.run(stop))
        try:
            await until(lambda: services.relay.publisher.connected)
            proxy.cut()
            await until(lambda: not services.relay.publisher.connected)
            await until(lambda: services.relay.publisher.connected)
            assert services.relay.published == 0  # it stood by all along
        finally:
            stop.set()
            await asyncio.wait_for(running, 15)

    try:
        asyncio.run(scenario())
    finally:
        services.close()
        other.release()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
