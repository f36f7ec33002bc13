"""Webhook deliveries past WEBHOOK_DELIVERY_RETENTION_DAYS are deleted, a batch at a time, on
every store: delivered and failed ones with their attempts, never a pending one nor a recent
one; the deliveries API answers the same after as before but for them, and while a batch is
deleted; with two admins only the scheduler lock's holder deletes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from application.deliveries import FAILED, PENDING, SUCCEEDED, Attempt, DeliveryRecord, Settlement
from application.delivery_retention import BATCH, DeliveryRetention
from application.ports import NewDelivery
from application.webhooks import CreateWebhook
from entrypoints.bootstrap import AnyDeliveryQueue, build_delivery_queue, build_services
from entrypoints.http.app import create_http_app
from entrypoints.workers.scheduler import schedule_once
from tests.conftest import API_KEY, PG_BASE, make_settings
from tests.contract import checking_client
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration
DAY = 86400.0


@pytest.fixture
def queue(any_url: str, clock: FixedClock) -> Iterator[AnyDeliveryQueue]:
    queue = build_delivery_queue(make_settings(any_url), clock)
    yield queue
    queue.close()


def owe(queue: AnyDeliveryQueue, webhook: UUID, count: int = 1) -> list[UUID]:
    owed = [NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", n, b'{"n":%d}' % n)
            for n in range(count)]
    queue.enqueue(owed)
    return [d.id for d in owed]


def finish(queue: AnyDeliveryQueue, clock: FixedClock, webhook: UUID, status: str,
           tries: int = 1) -> None:
    """Each of the webhook's due deliveries gets `tries` attempts, the last ending it as
    `status` (a pending one is due again at once)."""
    for attempt in range(1, tries + 1):
        for claim in queue.claim(clock.now(), 10_000, 30, only=webhook):
            ending = status if attempt == tries else PENDING
            code = 200 if ending == SUCCEEDED else 503
            sent = Attempt(attempt, clock.now(), code, None if code == 200 else "HTTP 503", 5)
            due = clock.now() if ending == PENDING else None
            assert queue.settle(claim, Settlement(ending, clock.now(), due, sent, sent.error))


def attempt_rows(url: str) -> int:
    """Attempts in the table, whatever delivery they name (an orphan counts)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return int(conn.execute("SELECT count(*) FROM webhook_delivery_attempts")
                       .fetchone()[0])
    schema = url.split("schema=")[1]
    with psycopg.connect(PG_BASE) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".webhook_delivery_attempts')
        return int(row.fetchone()[0])  # type: ignore[index]


def test_finished_deliveries_past_the_age_go_with_their_attempts(
    queue: AnyDeliveryQueue, clock: FixedClock, any_url: str
) -> None:
    webhook, down = uuid4(), uuid4()
    delivered = owe(queue, webhook, BATCH + 3)
    finish(queue, clock, webhook, SUCCEEDED, tries=2)
    clock.advance(60)
    failed = owe(queue, webhook, 2)
    finish(queue, clock, webhook, FAILED, tries=3)
    owed = owe(queue, down)  # owed since then, retried until now: still owed
    finish(queue, clock, down, PENDING, tries=2)
    clock.advance(7 * DAY - 30)
    recent = owe(queue, webhook)
    finish(queue, clock, webhook, SUCCEEDED)
    retention = DeliveryRetention(queue, clock)

    assert retention.prune(7) == BATCH  # a batch of the oldest: delivered ones
    assert retention.prune(7) == 3
    assert retention.prune(7) == 0  # the failed ones finished 30 s short of 7 days
    clock.advance(31)
    assert retention.prune(7) == 2
    assert retention.prune(7) == 0
    assert [r.id for r in queue.page(webhook, page_size=100)[0]] == recent
    assert [(r.id, r.status) for r in queue.page(down)[0]] == [(owed[0], PENDING)]
    assert all(queue.get(i) is None for i in [*delivered, *failed])
    assert queue.counts() == {"pending": 1, "succeeded": 1, "failed": 0}
    if any_url != "memory://":  # the memory queue keeps attempts in the delivery itself
        assert attempt_rows(any_url) == 2 + 1  # the pending one's two, the recent one's one
    clock.advance(365 * DAY)
    assert retention.prune(7) == 1  # the recent one in time; the pending one never
    assert [r.id for r in queue.page(down)[0]] == owed


def test_the_deliveries_api_lists_what_retention_left(any_url: str, clock: FixedClock) -> None:
    settings = make_settings(any_url, webhook_allow_private_ips=True,
                             webhook_delivery_retention_days=7.0)
    served = build_services(settings, clock=clock)
    queue = served.deliveries
    assert queue is not None
    # No workers: the scheduler passes are this test's own. The lifespan closes the services.
    with checking_client(create_http_app(settings, served)) as client:
        webhook = served.webhooks.create(CreateWebhook(
            url="http://127.0.0.1:19700/hook", secret="s" * 32,
            subscribed_events=["edge.node.registered"]))
        old = owe(queue, webhook, 3)
        finish(queue, clock, webhook, SUCCEEDED)
        late = owe(queue, webhook)  # owed since then, failed for good only now
        queue.claim(clock.now(), 1, 30)  # leased, its worker gone
        clock.advance(8 * DAY)
        recent = owe(queue, webhook)
        finish(queue, clock, webhook, FAILED, tries=2)
        assert listing(client, webhook)[1] == 5
        assert schedule_once(served) == 3
        ids, total = listing(client, webhook)
        assert (sorted(ids), total) == (sorted(str(i) for i in [*late, *recent]), 2)
        assert listing(client, webhook, "&status=succeeded") == ([], 0)
        assert listing(client, webhook, "&status=failed")[1] == 2
        assert not set(map(str, old)) & set(ids)


def listing(client: Any, webhook: UUID, query: str = "") -> tuple[list[str], int]:
    answer = client.get(f"/api/v1/webhooks/{webhook}/deliveries?page_size=100{query}",
                        headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for item in body["data"]:  # attempts come with their delivery, or not at all
        assert len(item["attempts"]) == item["attempt_count"]
    return [item["id"] for item in body["data"]], body["meta"]["pagination"]["total_count"]


def test_zero_keeps_deliveries_forever(clock: FixedClock) -> None:
    services = build_services(make_settings("memory://", webhook_delivery_retention_days=0.0),
                              clock=clock)
    try:
        queue = services.deliveries
        assert queue is not None
        webhook = uuid4()
        owe(queue, webhook, 2)
        finish(queue, clock, webhook, SUCCEEDED)
        clock.advance(3650 * DAY)
        assert schedule_once(services) == 0
        assert queue.counts()["succeeded"] == 2
    finally:
        services.close()


def test_a_page_read_while_a_batch_is_deleted_agrees_with_itself(
    pg_url: str, clock: FixedClock
) -> None:
    """Each statement of a page read its own state of the tables: a batch of retention that
    committed between them showed a delivery without its attempts (or a total above the
    rows). The batch here is made by hand to land between the two statements."""
    queue = build_delivery_queue(make_settings(pg_url), clock)
    schema = pg_url.split("schema=")[1]
    webhook = uuid4()
    (gone,) = owe(queue, webhook)
    finish(queue, clock, webhook, SUCCEEDED, tries=2)
    read: list[tuple[list[DeliveryRecord], int]] = []
    try:
        with psycopg.connect(PG_BASE) as pruner:
            pruner.execute(f'LOCK TABLE "{schema}".webhook_delivery_attempts IN ACCESS '
                           "EXCLUSIVE MODE")
            reader = threading.Thread(target=lambda: read.append(queue.page(webhook)))
            reader.start()
            waiting_on_attempts(schema)  # the page has read the deliveries
            pruner.execute(f'DELETE FROM "{schema}".webhook_delivery_attempts '
                           "WHERE delivery_id = %s", (gone,))
            pruner.execute(f'DELETE FROM "{schema}".webhook_deliveries WHERE id = %s', (gone,))
            pruner.commit()
            reader.join(30)
        ((records, total),) = read
        assert [(r.id, r.attempts, len(r.attempt_log)) for r in records] == [(gone, 2, 2)]
        assert total == 1
        assert queue.page(webhook) == ([], 0)
    finally:
        queue.close()


def waiting_on_attempts(schema: str) -> None:
    """Until some session waits for a lock on the schema's attempts table."""
    deadline = time.monotonic() + 30
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        while not conn.execute(
                "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN "
                "pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted AND n.nspname = %s "
                "AND c.relname = 'webhook_delivery_attempts'", (schema,)).fetchone():
            assert time.monotonic() < deadline, "the page never reached the attempts"
            time.sleep(0.01)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_only_the_scheduler_lock_holder_deletes(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> None:
    url = (f"sqlite:///{tmp_path}/edge.sqlite3" if kind == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    settings = make_settings(url, run_relay=False, run_webhook_worker=False,
                             webhook_delivery_retention_days=1.0)
    one = build_services(settings, clock=clock)
    two = build_services(settings, clock=clock)
    try:
        one.start()
        two.start()
        assert one.deliveries is not None and two.deliveries is not None
        webhook = uuid4()
        owe(one.deliveries, webhook, 5)
        finish(one.deliveries, clock, webhook, SUCCEEDED)
        clock.advance(2 * DAY)
        assert one.scheduler_lock is not None and one.scheduler_lock.held()
        assert schedule_once(two) == 0  # the other admin holds the lock: this one stays idle
        assert two.deliveries.counts()["succeeded"] == 5
        assert schedule_once(one) == 5
        assert two.deliveries.counts()["succeeded"] == 0
    finally:
        one.close()
        two.close()
