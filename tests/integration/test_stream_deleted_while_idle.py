"""The JetStream stream deleted while nothing was being published.

The webhook workers' durable consumer goes with the stream, and a pull on a consumer that no
longer exists just times out: once the relay made the stream again (at the next event), the
workers kept pulling from nothing, and no webhook was sent again until they restarted. And the
relay made the stream again only at the next event, with /readyz green meanwhile, even while
another stream held its subjects (the next event could not be published)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import nats
import nats.js.errors
import pytest

from application.deliveries import RetryPolicy
from application.webhooks import CreateWebhook
from entrypoints.app import create_app
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings
from tests.contract import checking_client
from tests.integration.webhook_harness import (
    NATS_URL,
    SECRET,
    Background,
    Receiver,
    close_loops,
    delete_stream,
    eventually,
    last_stream_position,
    nats_settings,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["nats_settings"]  # a fixture, used by name (it skips when NATS is away)


def stream_exists(name: str) -> bool:
    async def ask() -> bool:
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().stream_info(name)
            return True
        except nats.js.errors.NotFoundError:
            return False
        finally:
            await nc.close()

    return asyncio.run(ask())


def add_stream(name: str, subjects: list[str]) -> None:
    async def add() -> None:
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().add_stream(name=name, subjects=subjects)
        await nc.close()

    asyncio.run(add())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


def test_webhooks_are_sent_again_once_the_deleted_stream_is_made_again(
    nats_settings: dict[str, Any], receiver: Receiver
) -> None:
    services: Services = build_services(make_settings("memory://", **nats_settings))
    services.start()
    assert services.deliverer is not None
    services.deliverer.policy = RetryPolicy(max_attempts=1)
    try:
        services.webhooks.create(CreateWebhook(url=receiver.url("/hook"), secret=SECRET,
                                               subscribed_events=["edge.node.registered"]))
        with Background(services):
            write_registrations(services, 1)
            eventually(lambda: len(receiver.at("/hook")) == 1, 30, "the first webhook")
            delete_stream(nats_settings["nats_stream"])
            write_registrations(services, 1)
            eventually(lambda: len(receiver.at("/hook")) == 2, 30,
                       "the webhook of the event written after the stream was deleted")
    finally:
        services.close()
        close_loops()


def test_the_relay_makes_a_deleted_stream_again_while_idle_and_says_when_it_cannot(
    nats_settings: dict[str, Any],
) -> None:
    stream, prefix = nats_settings["nats_stream"], nats_settings["nats_subject_prefix"]
    blocker = f"{stream}_TAKER"
    app = create_app(make_settings("memory://", **nats_settings, run_webhook_worker=False))
    try:
        with checking_client(app) as client:
            services: Services = app.state.services
            eventually(lambda: stream_exists(stream), 10, "the stream made at start")
            delete_stream(stream)
            eventually(lambda: stream_exists(stream), 15, "the stream made again, no event")
            assert client.get("/readyz").status_code == 200

            # Another stream takes the subjects meanwhile: the next event could not go out.
            delete_stream(stream)
            add_stream(blocker, [f"{prefix}edge.>"])
            eventually(lambda: client.get("/readyz").status_code == 503, 15, "/readyz 503")
            check = client.get("/readyz").json()["checks"]["broker"]
            assert check.startswith("error: the relay cannot publish ("), check
            assert f"stream {stream} is gone" in check, check
            delete_stream(blocker)
            eventually(lambda: stream_exists(stream), 15, "the stream made again")
            eventually(lambda: client.get("/readyz").status_code == 200, 15, "/readyz 200")
            before = services.relay.position
            write_registrations(services, 1)
            eventually(lambda: last_stream_position(stream) == services.relay.position > before, 10,
                       "the next event in the stream")
    finally:
        delete_stream(blocker)
