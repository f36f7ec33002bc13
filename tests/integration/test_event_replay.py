"""`edge-admin events replay`: copies to a private JetStream stream and to a webhook's queue."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import jsonschema  # type: ignore[import-untyped]
import msgspec
import nats
import pytest
from nats.errors import NoServersError
from nats.js.errors import NotFoundError as StreamNotFoundError
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.memory_delivery_queue import MemoryDeliveryQueue
from adapters.nats_publisher import connect, ensure_stream
from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from application.event_log import messages_after, topics_of
from application.event_replay import replay_delivery_id, replay_message_id
from application.webhooks import CreateWebhook, delivery_id
from domain.catalog import Message
from domain.event_stream import StreamSettings
from entrypoints import cli
from entrypoints.bootstrap import Services, build_services
from entrypoints.event_replay import ReplayError, ReplayOptions, progress_text, replay
from entrypoints.http.openapi import asyncdoc
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
REGISTERED, VERIFIED = "edge.node.registered", "edge.enrollment_key.verified"


async def _nats_up() -> bool:
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0,
                                allow_reconnect=False)
    except (NoServersError, OSError, TimeoutError):
        return False
    await nc.close()
    return True


@pytest.fixture
def stream() -> Iterator[StreamSettings]:
    """A stream of its own (unique name and subject prefix), deleted afterwards."""
    if not asyncio.run(_nats_up()):
        pytest.skip("NATS is not reachable at " + NATS_URL)
    tag = uuid.uuid4().hex[:10]
    settings = StreamSettings(name=f"T_REPLAY_{tag}", subject_prefix=f"t{tag}.")

    async def create() -> None:
        nc = await connect(NATS_URL, "test-replay")
        await ensure_stream(nc.jetstream(), settings)
        await nc.close()

    async def delete() -> None:
        nc = await connect(NATS_URL, "test-replay")
        try:
            await nc.jetstream().delete_stream(settings.name)
        except StreamNotFoundError:
            pass
        await nc.close()

    asyncio.run(create())
    yield settings
    asyncio.run(delete())


@pytest.fixture
def services(pg_url: str, stream: StreamSettings) -> Iterator[Services]:
    svc = build_services(make_settings(
        pg_url, nats_url=NATS_URL, nats_stream=stream.name,
        nats_subject_prefix=stream.subject_prefix, webhook_allow_private_ips=True,
    ))
    svc.start()
    yield svc
    svc.close()


def add_nodes(svc: Services, count: int) -> None:
    cluster = "c" + uuid.uuid4().hex[:8]
    svc.clusters.create(CreateCluster(name=cluster))
    key_id = svc.enrollment_keys.issue(cluster, IssueEnrollmentKey(uses_remaining=None))
    row = svc.view.get("enrollment_keys", key_id)
    assert row is not None
    for _ in range(count):
        svc.nodes.enroll(EnrollNode(enrollment_key=row["key"]))


def stored(svc: Services, types: tuple[str, ...] = ()) -> list[Message]:
    messages, _ = messages_after(svc.store, 0, topics_of(types), 10_000)
    return messages


async def fetch_all(settings: StreamSettings, expected: int) -> list[Any]:
    """Every message in the stream (an ephemeral pull consumer reads from the start)."""
    nc = await connect(NATS_URL, "test-replay")
    try:
        sub = await nc.jetstream().pull_subscribe(f"{settings.subject_prefix}edge.>",
                                                  stream=settings.name)
        found: list[Any] = []
        while len(found) < expected:
            found += await sub.fetch(expected - len(found), timeout=5)
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(1, timeout=0.5)  # and nothing more
        for message in found:
            await message.ack()
        return found
    finally:
        await nc.close()


def test_replay_to_nats_sends_copies_with_new_ids_and_the_same_bodies(
    services: Services, stream: StreamSettings
) -> None:
    add_nodes(services, 3)
    originals = stored(services)
    first, last = originals[1].position, originals[4].position
    run_id = uuid.uuid4()
    options = ReplayOptions(start=first, stop=last, nats=True, run_id=run_id)
    report = asyncio.run(replay(services, options))
    assert (report.events, report.published, report.first, report.last) == (4, 4, first, last)
    received = asyncio.run(fetch_all(stream, 4))
    for original, msg in zip(originals[1:5], received, strict=True):
        assert msg.subject == f"{stream.subject_prefix}{original.type}"
        assert msg.data == msgspec.json.encode(original)
        assert json.loads(msg.data)["id"] == str(original.id)
        assert msg.headers["Nats-Msg-Id"] == str(replay_message_id(original.id, run_id))
        assert msg.headers["Nats-Msg-Id"] != str(original.id)
        assert msg.headers["Edge-Replay"] == str(run_id)
        assert msg.headers["Edge-Position"] == str(original.position)
    assert report.duplicates == 0 and "already" not in report.summary()
    # The same run again is swallowed by the duplicate window, and says so (it said "4
    # published", as if the stream had taken them again); a new run is not.
    repeated = asyncio.run(replay(services, options))
    assert (repeated.published, repeated.duplicates) == (4, 4)
    assert "4 published to NATS (4 of them in the stream already: dropped)" in (
        repeated.summary())
    asyncio.run(replay(services, ReplayOptions(start=first, stop=first, nats=True)))
    again = asyncio.run(fetch_all(stream, 5))
    assert len({m.headers["Edge-Replay"] for m in again}) == 2


async def relay_all(svc: Services) -> None:
    """Runs the relay until it has published everything recorded."""
    stop = asyncio.Event()
    running = asyncio.create_task(svc.relay.run(stop))
    head = svc.store.recorder.max_notification_id() or 0
    try:
        async with asyncio.timeout(30):
            while svc.relay.position < head:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running


def schema_errors(value: Any, ref: str, document: dict[str, Any]) -> list[str]:
    """What is wrong with `value` by the document's schema at `ref`, formats included."""
    schema = {"$ref": ref, "components": document["components"]}
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]


def test_what_the_relay_and_a_replay_put_on_nats_is_what_the_served_asyncapi_says(
    services: Services, stream: StreamSettings
) -> None:
    """Every captured message, the relay's and a replay's copies: its subject is its channel's
    address, its headers are documented ones and match NatsHeaders, its body matches its
    channel's payload, and Nats-Msg-Id is the body's id exactly when the message is no
    replayed copy (Edge-Replay). The document served is this admin's: with NATS_SUBJECT_PREFIX
    set it named unprefixed addresses and stream EDGE, which a consumer following it
    literally subscribed to and found nothing on."""
    add_nodes(services, 2)
    originals = stored(services)
    asyncio.run(relay_all(services))
    run_id = uuid.uuid4()
    asyncio.run(replay(services, ReplayOptions(
        start=originals[0].position, stop=originals[-1].position, nats=True, run_id=run_id)))
    received = asyncio.run(fetch_all(stream, 2 * len(originals)))
    served = Starlette(routes=asyncdoc.ROUTES)
    served.state.settings = services.settings
    with TestClient(served) as client:
        document = client.get("/asyncapi.json").json()
    assert f"stream {stream.name} " in document["servers"]["nats"]["description"]
    assert f"stream `{stream.name}`" in document["info"]["description"]
    channels = {c["address"]: c for c in document["channels"].values()}
    documented = document["components"]["schemas"]["NatsHeaders"]["properties"]
    replayed = []
    for msg in received:
        (ref,) = channels[msg.subject]["messages"].values()
        name = ref["$ref"].rsplit("/", 1)[-1]
        message = document["components"]["messages"][name]
        body = json.loads(msg.data)
        assert set(msg.headers) <= set(documented), f"undocumented headers: {msg.headers}"
        assert schema_errors(msg.headers, message["headers"]["$ref"], document) == []
        assert schema_errors(body, message["payload"]["$ref"], document) == []
        if "Edge-Replay" in msg.headers:
            replayed.append(body["id"])
            assert msg.headers["Edge-Replay"] == str(run_id)
            assert msg.headers["Nats-Msg-Id"] != body["id"]
        else:
            assert msg.headers["Nats-Msg-Id"] == body["id"]
    assert replayed == [str(m.id) for m in originals]


def test_replay_to_nats_filters_by_type_through_the_cli(
    services: Services, stream: StreamSettings, pg_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_nodes(services, 2)
    env = {"DATABASE_URL": pg_url, "API_KEY": "k" * 24, "NATS_URL": NATS_URL,
           "NATS_STREAM": stream.name, "NATS_SUBJECT_PREFIX": stream.subject_prefix}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["events", "replay", "--from", "1", "--type", REGISTERED, "--nats"]) == 0
    said = capsys.readouterr()
    summary = said.out
    assert ": 2 events" in summary and "2 published to NATS" in summary and "events/s" in summary
    run_id = summary.split()[1].rstrip(":")  # "replay <run id>: ..."
    # said before anything is sent, so that a run killed early can be repeated without doubling
    assert said.err.startswith(f"replay {run_id}: starting;")
    assert f"--run-id {run_id}" in said.err
    received = asyncio.run(fetch_all(stream, 2))
    assert [json.loads(m.data)["type"] for m in received] == [REGISTERED, REGISTERED]
    assert [m.data for m in received] == [msgspec.json.encode(m) for m in
                                          stored(services, (REGISTERED,))]
    assert cli.main(["events", "replay", "--from", "1", "--type", "edge.nope", "--nats"]) == 2
    assert "edge.nope" in capsys.readouterr().err


def create_webhook(svc: Services, events: list[str]) -> UUID:
    return svc.webhooks.create(CreateWebhook(url="http://127.0.0.1:9/hook", secret="s" * 32,
                                             subscribed_events=events))


def test_replay_to_a_webhook_queues_fresh_deliveries_with_identical_bodies(
    services: Services,
) -> None:
    hook = create_webhook(services, [REGISTERED])
    add_nodes(services, 3)
    registered = stored(services, (REGISTERED,))
    run_id, queue = uuid.uuid4(), MemoryDeliveryQueue()
    options = ReplayOptions(start=1, webhook_id=hook, run_id=run_id)
    report = asyncio.run(replay(services, options, queue))
    assert report.events == report.enqueued == 3
    rows = list(queue.rows.values())
    assert [r.message_id for r in rows] == [m.id for m in registered]
    for row, message in zip(rows, registered, strict=True):
        assert row.id == replay_delivery_id(hook, message.id, run_id)
        assert row.id != delivery_id(hook, message.id)
        assert row.body == msgspec.json.encode(message) and row.webhook_id == hook
    # Re-running the same run adds nothing; --type overrides the subscription.
    assert asyncio.run(replay(services, options, queue)).enqueued == 0
    verified = ReplayOptions(start=1, webhook_id=hook, types=(VERIFIED,))
    assert asyncio.run(replay(services, verified, queue)).enqueued == 3
    dry = ReplayOptions(start=1, webhook_id=hook, dry_run=True)
    assert asyncio.run(replay(services, dry, queue)).enqueued == 3 and len(queue.rows) == 6


def test_replay_refuses_unknown_or_deleted_webhooks_and_empty_plans(services: Services) -> None:
    add_nodes(services, 1)
    hook = create_webhook(services, [REGISTERED])
    services.webhooks.delete(hook)
    for webhook_id in (hook, uuid.uuid4()):
        with pytest.raises(ReplayError, match="does not exist or was deleted"):
            asyncio.run(replay(services, ReplayOptions(start=1, webhook_id=webhook_id)))
    with pytest.raises(ReplayError, match="nothing to do"):
        asyncio.run(replay(services, ReplayOptions(start=1)))
    with pytest.raises(ReplayError, match="before --from"):
        asyncio.run(replay(services, ReplayOptions(start=5, stop=2, nats=True)))
    with pytest.raises(ReplayError, match="ends at position"):
        asyncio.run(replay(services, ReplayOptions(start=10_000, nats=True)))


def test_replay_reports_progress_with_its_range_and_rate(services: Services) -> None:
    hook = create_webhook(services, [REGISTERED])
    add_nodes(services, 3)
    heard: list[tuple[int, int | None, int]] = []
    options = ReplayOptions(start=1, webhook_id=hook, dry_run=True)
    report = asyncio.run(replay(services, options, MemoryDeliveryQueue(),
                                progress=lambda r: heard.append((r.events, r.last, r.stop))))
    assert heard and heard[-1] == (report.events, report.last, report.stop)
    line = progress_text(report)
    assert f"at position {report.last} of {report.stop}" in line and "events/s" in line
    assert line.startswith(f"replay {report.run_id}: ")  # a killed run can be repeated
