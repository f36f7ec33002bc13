"""Webhooks end to end over PostgreSQL, JetStream and a real local HTTP receiver: signatures
verify with the reference library, retries follow the policy, redirects are not followed, and the
SSRF guard runs again at delivery time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import msgspec
import pytest

from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.deliveries import FAILED, SUCCEEDED, RetryPolicy
from application.enrollment_keys import IssueEnrollmentKey
from application.webhooks import CreateWebhook, delivery_id
from domain.catalog import decode_message
from entrypoints.app import create_app
from entrypoints.bootstrap import Services, build_services
from entrypoints.http import deliveries
from tests.conftest import API_KEY, make_settings
from tests.contract import checking_client
from tests.integration.webhook_harness import (
    SECRET,
    Background,
    Receiver,
    closed_port,
    eventually,
    loops_closed,
    nats_settings,
    receiver,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["loops_closed", "nats_settings", "receiver"]  # fixtures, used by name


def start(url: str, **overrides: Any) -> Services:
    services = build_services(make_settings(url, **overrides))
    services.start()
    assert services.deliverer is not None
    services.deliverer.policy = RetryPolicy(max_attempts=3, base_delay=0.2)
    return services


@pytest.fixture
def services(pg_url: str, nats_settings: dict[str, Any]) -> Iterator[Services]:
    services = start(pg_url, **nats_settings)
    yield services
    services.close()


def hook(services: Services, url: str, events: tuple[str, ...] = ("edge.node.registered",),
         **headers: str) -> UUID:
    return services.webhooks.create(CreateWebhook(url=url, secret=SECRET,
                                                  subscribed_events=list(events), headers=headers))


def final(services: Services, webhook: UUID, count: int = 1) -> list[Any]:
    """The webhook's deliveries once `count` of them reached a final state."""
    assert services.deliveries is not None
    queue = services.deliveries

    def done() -> bool:
        records, _ = queue.page(webhook)
        return sum(r.status in (SUCCEEDED, FAILED) for r in records) >= count

    eventually(done, 30, f"{count} final deliveries for {webhook}")
    return queue.page(webhook)[0]


def test_registrations_reach_the_receiver_signed(services: Services, receiver: Receiver) -> None:
    webhook = hook(services, receiver.url("/ok"), Authorization="Bearer abc")
    services.clusters.create(CreateCluster(name="hooks"))
    key_id = services.enrollment_keys.issue("hooks", IssueEnrollmentKey(uses_remaining=10))
    key_row = services.view.get("enrollment_keys", key_id)
    assert key_row is not None
    nodes = {services.nodes.enroll(EnrollNode(enrollment_key=key_row["key"])).node_id
             for _ in range(3)}
    with Background(services):
        eventually(lambda: len(receiver.at("/ok")) >= 3, 30, "three webhooks")
        records = final(services, webhook, 3)
    got = receiver.at("/ok")
    assert len(got) == 3 and all(r.standard_ok and r.edge_ok for r in got)
    messages = [decode_message(r.body) for r in got]
    assert {m.type for m in messages} == {"edge.node.registered"}  # not the key's event
    assert {m.subject_id for m in messages} == nodes
    for received, message in zip(got, messages, strict=True):
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert headers["webhook-id"] == str(delivery_id(webhook, message.id))
        assert headers["x-edge-event-id"] == str(message.id)
        assert headers["x-edge-event-type"] == "edge.node.registered"
        assert headers["authorization"] == "Bearer abc"
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("edge-admin-webhooks/")
        assert msgspec.json.encode(message) == received.body
    assert [(r.status, r.attempts) for r in records] == [(SUCCEEDED, 1)] * 3


def test_retry_outcomes(services: Services, receiver: Receiver) -> None:
    receiver.scripts.update({
        "/flaky": [(500, {}), (200, {})],
        "/limited": [(429, {"Retry-After": "1"}), (204, {})],
        "/bad": [(400, {})],
        "/down": [(503, {})],
        "/moved": [(302, {"Location": "/ok"})],
    })
    hooks = {path: hook(services, receiver.url(path))
             for path in ("/flaky", "/limited", "/bad", "/down", "/moved")}
    hooks["closed"] = hook(services, f"http://127.0.0.1:{closed_port()}/")
    write_registrations(services, 1)
    with Background(services):
        results = {name: final(services, webhook)[0] for name, webhook in hooks.items()}
    summary = {name: (r.status, r.attempts, [a.status_code for a in r.attempt_log])
               for name, r in results.items()}
    assert summary == {
        "/flaky": (SUCCEEDED, 2, [500, 200]),
        "/limited": (SUCCEEDED, 2, [429, 204]),
        "/bad": (FAILED, 1, [400]),
        "/down": (FAILED, 3, [503, 503, 503]),
        "/moved": (FAILED, 1, [302]),
        "closed": (FAILED, 3, [None, None, None]),
    }
    assert "connect" in (results["closed"].last_error or "")
    assert "redirect" in (results["/moved"].last_error or "")
    assert receiver.at("/ok") == []  # the redirect was not followed
    first, second = receiver.at("/limited")
    assert second.at - first.at >= 0.95  # Retry-After: 1 was honoured
    for path in ("/flaky", "/down"):
        sent = receiver.at(path)
        assert len({r.headers["webhook-id"] for r in sent}) == 1  # one delivery, same id
        assert len({r.body for r in sent}) == 1  # byte-identical on every attempt
        assert len({r.headers["webhook-timestamp"] for r in sent}) >= 1
        assert all(r.standard_ok and r.edge_ok for r in sent)


def test_destination_is_checked_again_at_delivery(
    pg_url: str, nats_settings: dict[str, Any], services: Services, receiver: Receiver
) -> None:
    webhook = hook(services, receiver.url("/private"))  # allowed by this process's settings
    write_registrations(services, 1)
    strict = start(pg_url, **{**nats_settings, "webhook_allow_private_ips": False})
    try:
        # This process only relays; the strict worker does the fan-out and the delivery.
        with Background(services, worker=False), Background(strict, relay=False):
            (record,) = final(strict, webhook)
    finally:
        strict.close()
    assert (record.status, record.attempts) == (FAILED, 1)
    assert "refused" in (record.last_error or "") and "loopback" in (record.last_error or "")
    assert record.attempt_log[0].status_code is None
    assert receiver.at("/private") == []


def test_deliveries_endpoint_lists_attempts_without_secrets(
    pg_url: str, services: Services, receiver: Receiver
) -> None:
    receiver.scripts["/flaky"] = [(500, {}), (200, {})]
    webhook = hook(services, receiver.url("/flaky"), Authorization="Bearer hidden")
    write_registrations(services, 2)
    with Background(services):
        final(services, webhook, 2)
    app = create_app(make_settings(pg_url, run_projections=False, run_relay=False))
    if not any(getattr(r, "path", "") == deliveries.ROUTES[0].path for r in app.router.routes):
        app.router.routes.extend(deliveries.ROUTES)  # until the lead wires the module in
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with checking_client(app) as client:
        page = client.get(f"/api/v1/webhooks/{webhook}/deliveries?page_size=1", headers=auth)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["meta"]["pagination"]["total_count"] == 2
        (item,) = body["data"]
        assert item["webhook_id"] == str(webhook) and item["status"] == "succeeded"
        assert item["attempt_count"] in (1, 2) and item["attempts"][-1]["status_code"] == 200
        assert "hidden" not in page.text and SECRET not in page.text
        failed = client.get(f"/api/v1/webhooks/{webhook}/deliveries?status=failed", headers=auth)
        assert failed.json()["data"] == []
        bad = client.get(f"/api/v1/webhooks/{webhook}/deliveries?status=lost", headers=auth)
        assert bad.status_code == 400
        missing = client.get(f"/api/v1/webhooks/{UUID(int=1)}/deliveries", headers=auth)
        assert missing.status_code == 404


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_without_nats_the_in_process_bus_feeds_the_worker(
    kind: str, tmp_path: Any, receiver: Receiver
) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/edge.sqlite3"
    services = start(url, webhook_allow_private_ips=True, webhook_timeout=2.0)
    try:
        receiver.scripts["/flaky"] = [(503, {}), (200, {})]
        webhook = hook(services, receiver.url("/flaky"))
        write_registrations(services, 5)
        with Background(services):
            records = final(services, webhook, 5)
        # The receiver answers 503 once (to whichever delivery comes first), then 200.
        assert sorted((r.status, r.attempts) for r in records) == [(SUCCEEDED, 1)] * 4 + [
            (SUCCEEDED, 2)]
        assert len(receiver.at("/flaky")) == 6
        assert all(r.standard_ok and r.edge_ok for r in receiver.at("/flaky"))
    finally:
        services.close()


def test_deliveries_of_a_deleted_webhook_fail_without_a_request(
    services: Services, receiver: Receiver
) -> None:
    webhook = hook(services, receiver.url("/gone"))
    write_registrations(services, 2)
    messages, _ = services.relay.read_batch(0)
    services.projector.wait(messages[-1].position)
    assert services.webhooks.fan_out(messages) == 2
    services.webhooks.delete(webhook)
    assert services.deliverer is not None and services.deliveries is not None
    assert asyncio.run(services.deliverer.deliver_due()) == 2
    assert services.deliveries.counts(webhook) == {"pending": 0, "succeeded": 0, "failed": 2}
    records, _ = services.deliveries.page(webhook)
    assert {(r.last_error, r.attempts) for r in records} == {("webhook deleted", 0)}
    assert receiver.at("/gone") == []


def test_deliveries_owed_across_an_upgrade_wait_for_the_rebuilt_read_models(
    pg_url: str, receiver: Receiver
) -> None:
    """Deliveries still owed when an admin stops (a receiver down, a kill -9) are sent by the
    next start. If that start rebuilds the read models (a release with a new read-model
    version), their webhooks are missing from the read model until the rebuild reaches them:
    the deliveries wait for it instead of failing as "webhook deleted"."""
    settings = make_settings(pg_url, webhook_allow_private_ips=True, webhook_timeout=2.0)
    before = build_services(settings)
    before.start()
    try:
        webhook = hook(before, receiver.url("/later"))
        write_registrations(before, 2)
        messages, _ = before.relay.read_batch(0)
        before.projector.wait(messages[-1].position)
        assert before.webhooks.fan_out(messages) == 2  # owed, not yet sent
        head = before.store.recorder.max_notification_id()
        before.view.reset(before.store.name)  # the read models as a rebuild at start finds them
    finally:
        before.close()

    after = build_services(settings)  # not started: the read models hold nothing yet
    try:
        assert after.deliverer is not None and after.deliveries is not None
        after.deliverer.unprojected_wait = 0.2
        assert after.rebuilding_to == head
        assert asyncio.run(after.deliverer.deliver_due()) == 2
        assert after.deliveries.counts(webhook) == {"pending": 2, "succeeded": 0, "failed": 0}
        assert receiver.at("/later") == []
        after.start()
        after.projector.wait(head)
        with Background(after, relay=False):
            records = final(after, webhook, 2)
        assert {(r.status, r.attempts) for r in records} == {(SUCCEEDED, 1)}
        assert len(receiver.at("/later")) == 2
    finally:
        after.close()
