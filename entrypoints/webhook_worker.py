"""The webhook worker: published messages -> fan-out into the durable queue -> signed POSTs.

Intake, with NATS: a durable JetStream pull consumer shared by every worker ("webhook-fanout"):
each batch is fanned out (one delivery row per subscribed webhook, idempotent) and only then
acknowledged, so a worker killed mid-batch leaves those messages to be redelivered and nothing
is lost; without NATS: the in-process bus, fed by this process's relay. Delivery: the Deliverer
leases due rows from the queue and keeps up to 64 requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from adapters.nats_publisher import StreamSettings, connect, ensure_stream
from application.deliveries import Deliverer
from application.wakeup import Stopped, unless_stopped
from domain.catalog import PAYLOADS, Message
from entrypoints.bootstrap import Services
from entrypoints.pause import pause

log = logging.getLogger(__name__)

DURABLE = "webhook-fanout"
BATCH = 256
# Long enough for one batch's fan-out (which may wait for the read model), short enough that a
# killed worker's unacknowledged batch comes back soon. Redelivery early is harmless: the
# fan-out is idempotent.
ACK_WAIT = 10.0


class _Envelope(msgspec.Struct, kw_only=True):
    id: UUID
    type: str
    schema_version: int
    source: str
    position: int
    occurred_at: datetime
    subject_id: UUID
    data: msgspec.Raw


def decode_message(raw: bytes) -> Message:
    """A catalog message from its JSON (the payload type depends on the message type)."""
    envelope = msgspec.json.decode(raw, type=_Envelope)
    payload = PAYLOADS.get(envelope.type)
    if payload is None:
        raise ValueError(f"unknown message type {envelope.type!r}")
    return Message(
        id=envelope.id, type=envelope.type, schema_version=envelope.schema_version,
        source=envelope.source, position=envelope.position, occurred_at=envelope.occurred_at,
        subject_id=envelope.subject_id, data=msgspec.json.decode(envelope.data, type=payload),
    )


def _deliverer(services: Services) -> Deliverer:
    assert services.deliverer is not None, "build_services wires a Deliverer"
    return services.deliverer


async def fan_out(services: Services, messages: Sequence[Message]) -> int:
    """Enqueues the deliveries these messages owe; safe to repeat."""
    if not messages:
        return 0
    # Subscriptions come from the read model: it must already hold every webhook created before
    # these messages, or a webhook created just before them would miss them.
    await asyncio.to_thread(services.projector.wait, max(m.position for m in messages))
    added = await asyncio.to_thread(services.webhooks.fan_out, messages)
    services.counters.add("webhook.fan_outs_total")
    if added:
        _deliverer(services).wake()
    return added


async def handle_batch(services: Services, batch: Sequence[Msg]) -> int:
    """Fans a fetched batch out, then acknowledges it (at least once; enqueue is idempotent)."""
    messages = []
    for msg in batch:
        try:
            messages.append(decode_message(msg.data))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            log.warning("dropping undecodable message %s on %s", msg.headers, msg.subject)
    added = await fan_out(services, messages)
    for msg in batch:
        await msg.ack()
    return added


async def consume_jetstream(services: Services, stop: asyncio.Event) -> None:
    """Pulls from the shared durable consumer until `stop`; reconnects after failures."""
    settings = services.settings
    stream = StreamSettings(settings.nats_stream, settings.nats_subject_prefix)
    config = ConsumerConfig(
        durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT, max_deliver=-1, max_ack_pending=20 * BATCH,
        filter_subject=stream.subjects[0],
    )
    backoff = 0.5
    while not stop.is_set():
        nc: Client | None = None
        try:
            nc = await unless_stopped(connect(settings.nats_url, "edge-webhook-worker"), stop)
            js = nc.jetstream()
            await ensure_stream(js, stream)
            sub = await js.pull_subscribe(stream.subjects[0], durable=DURABLE,
                                          stream=stream.name, config=config)
            while not stop.is_set():
                try:
                    batch = await sub.fetch(BATCH, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                await handle_batch(services, batch)
                backoff = 0.5
        except Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - the worker outlives broker and database outages
            log.warning("webhook intake failed; retrying in %.1fs: %s", backoff, exc)
            await pause(stop, backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            if nc is not None and not nc.is_closed:
                await nc.close()


def subscribe_bus(services: Services) -> None:
    """Without NATS the relay of this process hands each batch to the fan-out directly; the
    relay records its position only after the fan-out returned, so nothing is skipped."""
    assert services.bus is not None

    async def handler(messages: Sequence[Message]) -> None:
        await fan_out(services, messages)

    services.bus.subscribe(handler)


async def run_worker(services: Services, stop: asyncio.Event) -> None:
    """Intake and delivery until `stop`; in-flight deliveries finish before it returns."""
    deliverer = _deliverer(services)
    intake = None
    if services.settings.nats_url:
        intake = asyncio.create_task(consume_jetstream(services, stop))
    else:
        subscribe_bus(services)  # before the first await: the relay must not publish past us
    try:
        await deliverer.run(stop)
    finally:
        if intake is not None:
            if not stop.is_set():  # the delivery loop failed: do not leave intake running
                intake.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await intake
        await deliverer.close()

