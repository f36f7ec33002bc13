"""The relay's JetStream stream deleted under a running admin.

A message published to subjects no stream takes goes to whoever else subscribes to them, and
then the server answers no "no responders" either: the relay waited its whole ack timeout
(30 s) with /readyz green, before it made the stream again, and asyncio logged the cancelled
wait as "exception was never retrieved". Now it asks after the stream once acks are a second
late, makes it again at once, and readiness says it cannot publish while that lasts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from nats.js.errors import BadRequestError

from adapters.nats_publisher import ensure_stream
from domain.event_stream import StreamSettings
from entrypoints.app import create_app
from entrypoints.bootstrap import Services
from tests.conftest import make_settings
from tests.contract import checking_client
from tests.integration.webhook_harness import (
    NATS_URL,
    delete_stream,
    eventually,
    last_stream_position,
    nats_settings,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["nats_settings"]  # a fixture, used by name (it skips when NATS is away)


@contextlib.contextmanager
def subscribed(subject: str) -> Iterator[None]:
    """A plain NATS subscriber to `subject` (a receiver, a tool watching the bus) for the
    block: with one, a publish that no stream takes is no "no responders" error either."""
    host, port = NATS_URL.removeprefix("nats://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.recv(4096)  # INFO
        sock.sendall(f'CONNECT {{"verbose":false}}\r\nSUB {subject} 1\r\nPING\r\n'.encode())
        seen = b""
        while b"PONG" not in seen:
            seen += sock.recv(4096)
        yield


def add_stream(name: str, subjects: list[str]) -> None:
    async def add() -> None:
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().add_stream(name=name, subjects=subjects)
        await nc.close()

    asyncio.run(add())


def published(services: Services, stream: str) -> bool:
    """The relay's last position is the stream's last message: all it read is in."""
    return last_stream_position(stream) == services.relay.position


def test_a_deleted_stream_is_made_again_at_once_and_readiness_says_when_it_cannot_be(
    nats_settings: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    stream, prefix = nats_settings["nats_stream"], nats_settings["nats_subject_prefix"]
    blocker = f"{stream}_TAKER"
    app = create_app(make_settings("memory://", **nats_settings, run_webhook_worker=False))
    try:
        with (caplog.at_level(logging.ERROR, logger="asyncio"), subscribed(f"{prefix}edge.>"),
              checking_client(app) as client):
            services: Services = app.state.services
            write_registrations(services, 1)
            eventually(lambda: services.relay.position > 0 and published(services, stream),
                       10, "the first event in the stream")

            delete_stream(stream)
            write_registrations(services, 1)
            began = time.monotonic()
            eventually(lambda: published(services, stream), 5,
                       "the stream made again, with the event written after it was deleted")
            assert time.monotonic() - began < 5
            assert client.get("/readyz").status_code == 200

            # Another stream takes the subjects: the relay cannot publish until it is gone.
            delete_stream(stream)
            add_stream(blocker, [f"{prefix}edge.>"])
            write_registrations(services, 1)
            eventually(lambda: client.get("/readyz").status_code == 503, 5, "/readyz 503")
            check = client.get("/readyz").json()["checks"]["broker"]
            assert check.startswith("error: the relay cannot publish (PublishError: "), check
            assert f"stream {stream} is gone" in check, check
            delete_stream(blocker)
            eventually(lambda: published(services, stream), 15, "the stream made again")
            eventually(lambda: client.get("/readyz").status_code == 200, 5, "/readyz 200")
        gc.collect()  # an unretrieved future's exception is logged when it is collected
        assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    finally:
        delete_stream(blocker)


def test_a_stream_whose_subjects_another_holds_says_so(nats_settings: dict[str, Any]) -> None:
    # The relay's warning said "stream not found" (its own, looked up again after the refusal)
    # and left the operator to guess that another stream held the subjects.
    stream, prefix = nats_settings["nats_stream"], nats_settings["nats_subject_prefix"]
    blocker = f"{stream}_TAKER"
    add_stream(blocker, [f"{prefix}edge.>"])

    async def ensure() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            await ensure_stream(nc.jetstream(), StreamSettings(stream, prefix))
        finally:
            await nc.close()

    try:
        with pytest.raises(BadRequestError, match="overlap"):
            asyncio.run(ensure())
    finally:
        delete_stream(blocker)
