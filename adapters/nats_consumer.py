"""JetStream intake of the webhook workers: a durable pull consumer shared by every worker.

Each fetched batch is decoded, handed to the handler (the fan-out) and only then acknowledged,
so a worker killed mid-batch leaves those messages to be redelivered and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from adapters.nats_publisher import ConnectionLog, connect, describe, ensure_stream
from application.ports import MessageHandler
from application.wakeup import Stopped, pause, unless_stopped
from domain.catalog import Message, decode_message
from domain.event_stream import StreamSettings

log = logging.getLogger(__name__)

DURABLE = "webhook-fanout"
BATCH = 256
# Long enough for one batch's fan-out (which may wait for the read model), short enough that a
# killed worker's unacknowledged batch comes back soon. Redelivery early is harmless: the
# fan-out is idempotent.
ACK_WAIT = 10.0
# Seconds of pulling nothing after which a worker asks whether its consumer is still there: a
# stream deleted takes its consumers with it, and a pull on a consumer that no longer exists
# only times out, so the workers pulled from nothing for good once the stream was made again.
CONSUMER_CHECK = 5.0


def decode_batch(batch: list[Msg]) -> list[Message]:
    """The batch's catalog messages; one that does not decode is logged and dropped."""
    messages = []
    for msg in batch:
        try:
            messages.append(decode_message(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            log.warning("dropping undecodable message %s on %s", msg.headers, msg.subject)
    return messages


class JetStreamConsumer:
    """Implements the MessageSource port on the shared durable consumer DURABLE."""

    def __init__(self, url: str, stream: StreamSettings, name: str = "edge-webhook-worker",
                 check_every: float = CONSUMER_CHECK):
        self.url = url
        self.stream = stream
        self.name = name
        self.check_every = check_every

    def _config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            ack_wait=ACK_WAIT, max_deliver=-1, max_ack_pending=20 * BATCH,
            filter_subject=self.stream.subjects[0],
        )

    async def consume(self, handle: MessageHandler, stop: asyncio.Event) -> None:
        """Pulls until `stop`; each batch is acknowledged once `handle` returned (at least
        once: the handler must be idempotent). Reconnects after failures."""
        backoff = 0.5
        states = ConnectionLog(self.url, self.name)
        failing: str | None = None
        while not stop.is_set():
            nc: Client | None = None
            try:
                nc = await unless_stopped(connect(self.url, self.name, states), stop)
                js = nc.jetstream()
                await ensure_stream(js, self.stream)
                sub = await js.pull_subscribe(self.stream.subjects[0], durable=DURABLE,
                                              stream=self.stream.name, config=self._config())
                checked = time.monotonic()
                while not stop.is_set():
                    try:
                        batch = await sub.fetch(BATCH, timeout=1.0)
                    except nats.errors.TimeoutError:
                        if time.monotonic() - checked >= self.check_every:
                            await self._check_consumer(js)
                            checked = time.monotonic()
                        continue
                    await handle(decode_batch(batch))
                    for msg in batch:
                        await msg.ack()
                    if failing is not None:
                        log.info("webhook intake working again")
                        failing = None
                    backoff = 0.5
            except Stopped:
                return
            except Exception as exc:  # noqa: BLE001 - the worker outlives broker and database outages
                failure = describe(exc)
                if failure != failing:  # one line per new trouble, not one per retry
                    log.warning("webhook intake failed; retrying every %.1f-5s: %s", backoff,
                                failure)
                    failing = failure
                await pause(stop, backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if nc is not None and not nc.is_closed:
                    states.closing()
                    await nc.close()

    async def _check_consumer(self, js: JetStreamContext) -> None:
        """Raises ConsumerGoneError if the durable consumer no longer exists (its stream was
        deleted): the caller subscribes again, making the stream again if it is still gone.
        Any other answer, or none, leaves the pulls to go on."""
        try:
            await asyncio.wait_for(js.consumer_info(self.stream.name, DURABLE), 1.0)
        except nats.js.errors.NotFoundError as exc:
            raise ConsumerGoneError(f"consumer {DURABLE} of stream {self.stream.name} is gone "
                                    "(the stream was deleted?); subscribing again") from exc
        except (TimeoutError, nats.errors.Error, OSError):
            pass


class ConsumerGoneError(RuntimeError):
    """The durable consumer went (with its stream); the worker subscribes again."""
