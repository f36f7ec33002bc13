"""The relay publishes only what the read models already hold, so a subscriber that reads back
what an event names finds it (and a burst's projection gets the CPU before publishing)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from domain.catalog import Message
from entrypoints.bootstrap import build_services
from tests.conftest import make_settings
from tests.integration.webhook_harness import write_registrations

pytestmark = pytest.mark.integration


def _missing_on_arrival(url: str, run_projections: bool) -> tuple[int, int]:
    """Registers 20 nodes (40 public events) while the projector is held back for 0.5 s;
    returns how many messages the subscriber got and for how many the node was not readable."""
    services = build_services(make_settings(url, run_projections=run_projections))
    assert services.bus is not None
    got: list[bool] = []

    async def subscriber(messages: Sequence[Message]) -> None:
        for message in messages:
            node_id = getattr(message.data, "node_id", None)
            got.append(services.view.get("nodes", node_id) is not None)

    services.bus.subscribe(subscriber)
    write_registrations(services, 20)
    late_start = threading.Timer(0.5, services.start) if run_projections else None
    if late_start is not None:
        late_start.start()

    async def relay_until_published() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(services.relay.run(stop))
        deadline = time.monotonic() + 10
        while len(got) < 40 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await task

    try:
        asyncio.run(relay_until_published())
    finally:
        if late_start is not None:
            late_start.join()
        services.close()
    return len(got), got.count(False)


def test_subscribers_find_what_each_event_names(pg_url: str) -> None:
    assert _missing_on_arrival(pg_url, run_projections=True) == (40, 0)


def test_without_projections_in_this_process_the_relay_does_not_wait(pg_url: str) -> None:
    started = time.monotonic()
    received, missing = _missing_on_arrival(pg_url, run_projections=False)
    assert (received, missing) == (40, 40), "nothing projects here, so nothing is readable"
    # Waiting would take the projector's wait timeout (10 s); the bound leaves room for a
    # loaded machine (the whole run, services and writes included, took 3 s at load 9).
    assert time.monotonic() - started < 6, "the relay must not wait for absent read models"
