"""The JetStream stream deleted while nothing was being published.

The webhook workers' durable consumer goes with the stream, and a pull on a consumer that no
longer exists just times out: once the relay made the stream again (at the next event), the
workers kept pulling from nothing, and no webhook was sent again until they restarted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from application.deliveries import RetryPolicy
from application.webhooks import CreateWebhook
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings
from tests.integration.webhook_harness import (
    SECRET,
    Background,
    Receiver,
    close_loops,
    delete_stream,
    eventually,
    nats_settings,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["nats_settings"]  # a fixture, used by name (it skips when NATS is away)


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
