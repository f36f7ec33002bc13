"""The webhook runner: published messages -> fan-out into the durable queue -> signed POSTs.

Intake, with NATS: the MessageSource (a durable JetStream pull consumer shared by every worker)
hands over each batch and acknowledges it only after the fan-out, so a worker killed mid-batch
leaves those messages to be redelivered and nothing is lost; without NATS: the in-process bus,
fed by this process's relay. Delivery: the Deliverer leases due rows from the queue and keeps
up to 64 requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from functools import partial

from application.deliveries import Deliverer
from domain.catalog import Message
from entrypoints.bootstrap import Services


def _deliverer(services: Services) -> Deliverer:
    assert services.deliverer is not None, "build_services wires a Deliverer"
    return services.deliverer


async def fan_out(services: Services, messages: Sequence[Message]) -> int:
    """Enqueues the deliveries these messages owe; safe to repeat."""
    if not messages:
        return 0
    def owed() -> int:
        # Subscriptions come from the read model: it must already hold every webhook created
        # before these messages, or a webhook created just before them would miss them.
        services.projector.wait(max(m.position for m in messages))
        return services.webhooks.fan_out(messages)

    added = await asyncio.to_thread(owed)  # one hand-off to a thread for both
    services.counters.add("webhook.fan_outs_total")
    if added:
        _deliverer(services).wake()
    return added


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
    if services.intake is not None:
        intake = asyncio.create_task(services.intake.consume(partial(fan_out, services), stop))
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
