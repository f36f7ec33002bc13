"""The relay records its position at most every RECORD_EVERY while it publishes, once more when it
falls idle, and when it stops; a relay taking over from the record re-sends the unrecorded head,
and the webhook fan-out still enqueues each delivery once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from application import relay as relay_module
from application.webhooks import CreateWebhook
from domain.catalog import Message
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.webhooks import subscribe_bus
from tests.conftest import make_settings
from tests.integration.test_event_message_ids import indexed
from tests.integration.webhook_harness import write_registrations

pytestmark = pytest.mark.integration


@contextmanager
def admin(url: str) -> Iterator[Services]:
    services = build_services(make_settings(url, webhook_allow_private_ips=True))
    try:
        services.start()
        yield services
    finally:
        services.close()


def head(services: Services) -> int:
    return services.store.recorder.max_notification_id() or 0


def recorded(services: Services) -> int:
    return services.relay.tracking.max_tracking_id(services.relay.tracking_name) or 0


async def until(check: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_unrecorded_while_publishing_then_recorded_on_stop(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "RECORD_EVERY", 3600.0)  # nothing recorded by time
    with admin(pg_url) as services:
        got: list[Message] = []

        async def subscriber(messages: Sequence[Message]) -> None:
            got.extend(messages)

        assert services.bus is not None
        services.bus.subscribe(subscriber)

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.relay.run(stop))
            write_registrations(services, 1)
            # A relay's first pass records what it published.
            await until(lambda: recorded(services) == head(services) > 0)
            first = recorded(services)
            await asyncio.to_thread(write_registrations, services, 3)
            await until(lambda: services.relay.position >= head(services) > first)
            assert len(got) == 8  # registered and status events, two per node
            assert recorded(services) == first, "recorded again before RECORD_EVERY"
            # Metrics read how far it got, not the record.
            assert services.relay.published_position() == head(services)
            assert services.relay.lag() == 0
            stop.set()
            await task
            assert recorded(services) == head(services), "a stopping relay records"

        asyncio.run(scenario())


def test_recorded_once_it_falls_idle(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "RECORD_EVERY", 0.3)
    with admin(pg_url) as services:
        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.relay.run(stop))
            try:
                for _ in range(3):
                    await asyncio.to_thread(write_registrations, services, 2)
                # No write follows: the record catches up on its own.
                await until(lambda: recorded(services) == head(services))
            finally:
                stop.set()
                await task

        asyncio.run(scenario())


def test_the_recorded_position_never_runs_ahead_of_what_was_published(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The position recorded never runs ahead of what was published and acknowledged: whenever
    a batch is handed to the broker, each of its messages lies past the recorded position, a
    record being due after every batch (and one that ran behind the next publish, overlapping
    it, would hold only the batch before). The subscriber is slow, as a broker's
    acknowledgements are, so that a record started with the batch it is handed would land
    before the check."""
    monkeypatch.setattr(relay_module, "RECORD_EVERY", 0.0)  # a record due after every batch
    with admin(pg_url) as services:
        relay = services.relay
        relay.batch_size = 4
        write_registrations(services, 10)  # 20 public events: 5 batches
        # (a batch's first position, the recorded position and the index's last as it went)
        seen: list[tuple[int, int, int]] = []

        def record_and_index() -> tuple[int, int]:
            return recorded(services), max(indexed(services).values(), default=0)

        async def subscriber(messages: Sequence[Message]) -> None:
            await asyncio.sleep(0.05)
            seen.append((messages[0].position, *await asyncio.to_thread(record_and_index)))

        assert services.bus is not None
        services.bus.subscribe(subscriber)
        asyncio.run(relay.drain(asyncio.Event()))
        assert len(seen) == 5
        assert [s for s in seen if max(s[1:]) >= s[0]] == [], seen
        assert seen[-1][1] > 0, "records landed while publishing went on"
        assert recorded(services) == head(services), "the last batch recorded as the pass ends"


def test_a_relay_taking_over_resends_the_unrecorded_head_and_deliveries_stay_single(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A relay publishes without recording (as if killed before its record was due); the next
    run starts from the record and publishes that head again. Each (webhook, event) is
    enqueued once all the same."""
    monkeypatch.setattr(relay_module, "RECORD_EVERY", 3600.0)
    with admin(pg_url) as services:
        services.webhooks.create(CreateWebhook(
            url="http://127.0.0.1:9/hook", secret="s" * 32,
            subscribed_events=["edge.node.registered"]))
        queue = services.deliveries
        assert queue is not None
        subscribe_bus(services)  # the fan-out of this process, as `serve` runs it
        relay = services.relay
        never = asyncio.Event()
        asyncio.run(relay.drain(never))  # the first pass records
        first = recorded(services)
        assert first == head(services)
        write_registrations(services, 3)
        asyncio.run(relay.drain(never))  # published, not recorded: then the process dies
        assert relay.position == head(services) > first == recorded(services)
        assert queue.backlog().pending == 3
        read_before = relay.read

        async def next_run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(relay.run(stop))  # reads the record: it leads anew
            await until(lambda: relay.read - read_before >= 6)
            stop.set()
            await task

        asyncio.run(next_run())
        assert relay.read - read_before == 6, "the unrecorded head (3 nodes) published again"
        assert queue.backlog().pending == 3
        assert recorded(services) == head(services)


def test_writes_close_together_share_a_pass(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once woken, the relay waits LINGER before reading: writes 50 ms apart, one at a time,
    reach subscribers in one or two batches instead of one each. (A long linger here, so a
    loaded machine's slow writes still fall within it.)"""
    monkeypatch.setattr(relay_module, "LINGER", 3.0)
    with admin(pg_url) as services:
        batches: list[int] = []

        async def subscriber(messages: Sequence[Message]) -> None:
            batches.append(len(messages))

        assert services.bus is not None
        services.bus.subscribe(subscriber)

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.relay.run(stop))
            await asyncio.sleep(0.6)  # past the first pass (it finds nothing)
            for _ in range(4):
                await asyncio.to_thread(write_registrations, services, 1)
                await asyncio.sleep(0.05)
            await until(lambda: sum(batches) == 8, seconds=20)
            stopping = time.monotonic()
            stop.set()
            await task
            assert time.monotonic() - stopping < 0.5, "a stop does not wait out the linger"

        asyncio.run(scenario())
        assert len(batches) <= 2, batches
