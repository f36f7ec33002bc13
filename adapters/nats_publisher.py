"""JetStream side of the relay: the EDGE stream, and publishing with message-id dedupe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import msgspec
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from domain.catalog import Message
from domain.event_stream import StreamSettings, headers_for

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class ConnectionLog:
    """One log line per change of a connection's state (unreachable, disconnected, back), where
    the client's own default writes a traceback for every attempt: 24 in 11 s of an outage."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.state = "connecting"
        self._closing = False

    async def error(self, exc: Exception) -> None:
        if self.state != "unreachable":
            log.warning("%s: NATS at %s unreachable (%s); retrying every second until it "
                        "answers", self.name, self.url, describe(exc))
            self.state = "unreachable"

    async def disconnected(self) -> None:
        if self._closing:
            self._closing = False
            return
        if self.state == "connected":
            log.warning("%s: disconnected from NATS at %s; reconnecting", self.name, self.url)
            self.state = "disconnected"

    def closing(self) -> None:
        """We close it: the disconnection that follows is no news (and the state stays as it
        was, so a caller that connects again right away logs nothing either)."""
        self._closing = True

    async def connected(self) -> None:
        self._closing = False  # a close whose disconnection never came is over
        if self.state != "connected":
            log.info("%s: connected to NATS at %s", self.name, self.url)
            self.state = "connected"


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect(url: str, name: str, states: ConnectionLog | None = None) -> Client:
    """A client that reconnects by itself for ever, logging through `states` (kept by the
    caller across calls, so a retried connect does not log its outage again)."""
    states = states or ConnectionLog(url, name)
    client = await nats.connect(
        url, name=name, connect_timeout=5, reconnect_time_wait=1, max_reconnect_attempts=-1,
        allow_reconnect=True, error_cb=states.error, disconnected_cb=states.disconnected,
        reconnected_cb=states.connected,
    )
    await states.connected()
    return client


async def ensure_stream(js: JetStreamContext, stream: StreamSettings) -> None:
    config = StreamConfig(
        name=stream.name,
        subjects=list(stream.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        duplicate_window=stream.duplicate_window,
        max_age=stream.max_age,
    )
    try:
        await js.stream_info(stream.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


class JetStreamPublisher:
    """Publishes batches with pipelined acks; each message's id makes re-sends harmless."""

    def __init__(self, url: str, stream: StreamSettings | None = None) -> None:
        self.url = url
        self.stream = stream or StreamSettings()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._states = ConnectionLog(url, "edge-relay")

    async def start(self) -> None:
        self._nc = await connect(self.url, "edge-relay", self._states)
        self._js = self._nc.jetstream(publish_async_max_pending=4000)
        await ensure_stream(self._js, self.stream)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def publish(self, messages: Sequence[Message]) -> None:
        assert self._js is not None, "start() first"
        futures = []
        for message in messages:
            futures.append(await self._js.publish_async(
                self.stream.subject(message), _encode(message), headers=headers_for(message),
            ))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            unacked = f"{len(failures)} of {len(messages)} not acknowledged"
            raise PublishError(unacked) from failures[0]

    async def close(self) -> None:
        self._states.closing()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None


class PublishError(RuntimeError):
    """Some messages of a batch were not acknowledged; the relay re-sends the whole batch."""
