"""JetStream side of the relay: the EDGE stream, and publishing with message-id dedupe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from domain.catalog import Message
from domain.event_stream import StreamSettings, headers_for

log = logging.getLogger(__name__)
# How long a batch's acknowledgements may take before its connection is given up (a loaded
# broker acknowledges a batch of 2,000 within a second or two).
ACK_WAIT = 30.0
# Acknowledgements outstanding this long make the publisher ask whether the stream is still
# there: a stream deleted under it takes the messages to nowhere, and while anything else
# subscribes to the subjects the server answers no "no responders" either, so the acks would
# only time out after ACK_WAIT.
STREAM_CHECK = 1.0
RETRY = 2.0  # seconds between attempts to ready the stream
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


async def connect(url: str, name: str, states: ConnectionLog | None = None, *,
                  reconnect: bool = True, attempts: int = -1) -> Client:
    """A client that connects after `attempts` failures at most (-1: keeps trying for ever)
    and, with `reconnect`, reconnects by itself for ever; it logs through `states` (kept by
    the caller across calls, so a retried connect does not log its outage again)."""
    states = states or ConnectionLog(url, name)
    client = await nats.connect(
        url, name=name, connect_timeout=5, reconnect_time_wait=1,
        max_reconnect_attempts=attempts, allow_reconnect=reconnect, error_cb=states.error,
        disconnected_cb=states.disconnected, reconnected_cb=states.connected,
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
        try:
            await js.add_stream(config)
            return
        except BadRequestError as refused:
            # Another client (this process's webhook consumer, another serve) created it in
            # between; the server may then answer "subjects overlap". Ours if the name is.
            try:
                await js.stream_info(stream.name)
            except NotFoundError:  # another stream holds the subjects: the refusal says so
                raise refused from None
    await js.update_stream(config)


class JetStreamPublisher:
    """Publishes batches with pipelined acks; each message's id makes re-sends harmless.

    The connection never reconnects by itself: a client that does re-sends what it still
    buffered on the new connection while what the old one carried is lost, so the stream
    would hold a later message before an earlier one, and the lost one's ack never comes. A
    batch that fails (or whose acks take longer than `ack_wait`) closes the connection
    instead; the next batch opens a new one, and the caller sends from where it stands."""

    def __init__(self, url: str, stream: StreamSettings | None = None, *,
                 name: str = "edge-relay", ack_wait: float = ACK_WAIT,
                 headers: Callable[[Message], dict[str, str]] = headers_for) -> None:
        self.url, self.name, self.ack_wait, self.headers = url, name, ack_wait, headers
        self.stream = stream or StreamSettings()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._states = ConnectionLog(url, name)
        # Acknowledged messages the stream had already (their Nats-Msg-Id within its
        # duplicate window), so dropped: what a repeated replay run reports.
        self.duplicates = 0

    async def start(self) -> None:
        """Connects and readies the stream, however long the broker is away or refuses (a
        stream whose subjects another stream holds: said once, retried)."""
        said = None
        while True:
            try:
                await self._open(attempts=-1)
                return
            except (NatsError, OSError, TimeoutError) as exc:
                await self._drop()
                if describe(exc) != said:
                    said = describe(exc)
                    log.warning("%s: stream %s not ready on NATS at %s (%s); retrying every "
                                "%g s", self.name, self.stream.name, self.url, said, RETRY)
                await asyncio.sleep(RETRY)

    async def _open(self, attempts: int) -> None:
        self._nc = await connect(self.url, self.name, self._states, reconnect=False,
                                 attempts=attempts)
        self._js = self._nc.jetstream(publish_async_max_pending=4000)
        await ensure_stream(self._js, self.stream)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def reconnect(self) -> None:
        if self._nc is None or self._nc.is_closed or self._js is None:
            await self._drop()
            await self._open(attempts=1)  # a few seconds at most: the caller backs off

    async def check(self) -> None:
        """Makes the stream again if it was deleted while nothing was published: the next
        event made it, so until then the stream was missing with readiness green, even while
        another stream held its subjects (the event could not go out). Raises PublishError
        if it cannot be made; a slow answer leaves it to the next publish."""
        await self.reconnect()
        js = self._js
        assert js is not None
        try:
            await asyncio.wait_for(js.stream_info(self.stream.name), STREAM_CHECK)
        except NotFoundError:
            pass
        except (TimeoutError, NatsError, OSError):
            return
        else:
            return
        try:
            await asyncio.wait_for(ensure_stream(js, self.stream), self.ack_wait)
        except (TimeoutError, NatsError, OSError) as exc:
            await self._drop()
            raise PublishError(f"stream {self.stream.name} is gone and cannot be made again: "
                               f"{describe(exc)}") from exc
        log.warning("%s: stream %s was gone; made it again", self.name, self.stream.name)

    async def publish(self, messages: Sequence[Message]) -> None:
        await self.reconnect()
        nc, js = self._nc, self._js
        assert nc is not None and js is not None
        try:
            futures = [await js.publish_async(self.stream.subject(m), _encode(m),
                                              headers=self.headers(m)) for m in messages]
            results = await self._acks(nc, js, futures)
        except (TimeoutError, NatsError, OSError, StreamGoneError) as exc:
            await self._drop()
            raise PublishError(f"batch of {len(messages)} not acknowledged: "
                               f"{describe(exc)}") from exc
        failures = [f for f in map(self._refusal, results) if f is not None]
        if failures:
            await self._drop()
            raise PublishError(f"{len(failures)} of {len(messages)} not acknowledged: "
                               f"{describe(failures[0])}") from failures[0]
        self.duplicates += sum(bool(result.duplicate) for result in results)

    def _refusal(self, result: Any) -> BaseException | None:
        """Why a message's answer is no acknowledgement, if it is not: an error, or an ack
        from another stream, one that took the subjects over once ours was deleted and keeps
        the message where no consumer of ours looks. (The Nats-Expected-Stream header would
        have it refused too, but the stream keeps that header on every message it takes.)"""
        if isinstance(result, BaseException):
            return result
        if result.stream != self.stream.name:
            return StreamGoneError(f"stream {self.stream.name} is gone; stream "
                                   f"{result.stream} holds its subjects")
        return None

    async def _acks(self, nc: Client, js: JetStreamContext,
                    futures: list[asyncio.Future[Any]]) -> list[Any]:
        """Every ack or error; TimeoutError after `ack_wait`, as soon as the connection is
        gone, or once the stream is found gone (the acks owed will never come). Each future's
        outcome is retrieved, so none is reported unretrieved when it is collected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_wait
        check_at = loop.time() + STREAM_CHECK
        pending: set[asyncio.Future[Any]] = set(futures)
        try:
            while pending:
                if nc.is_closed:
                    raise TimeoutError("connection lost")
                if loop.time() > deadline:
                    raise TimeoutError(f"no acknowledgement within {self.ack_wait:g} s")
                if loop.time() >= check_at:
                    await self._check_stream(js)
                    check_at = loop.time() + STREAM_CHECK
                _, pending = await asyncio.wait(pending, timeout=0.05)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: an unawaited failure is logged otherwise
        return [f.exception() or f.result() for f in futures]

    async def _check_stream(self, js: JetStreamContext) -> None:
        """Raises StreamGoneError if the stream no longer exists; any other answer (or none
        within STREAM_CHECK) leaves the acks to come or to time out."""
        try:
            await asyncio.wait_for(js.stream_info(self.stream.name), STREAM_CHECK)
        except NotFoundError as exc:
            raise StreamGoneError(f"stream {self.stream.name} is gone") from exc
        except (TimeoutError, NatsError, OSError):
            pass

    async def _drop(self) -> None:
        """Closes the connection: what it still buffered goes out on it first, after what it
        carried already (so in order), and nothing is ever re-sent on another connection."""
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            self._states.closing()
            with contextlib.suppress(Exception):
                await nc.close()

    async def close(self) -> None:
        self._states.closing()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None


class PublishError(RuntimeError):
    """Some messages of a batch were not acknowledged; the relay re-sends the whole batch."""


class StreamGoneError(RuntimeError):
    """The stream was deleted under a batch; the next batch creates it again."""
