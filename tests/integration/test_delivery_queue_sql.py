"""The delivery queue contract on every persistence kind: idempotent enqueue, leases, fencing,
history queries; and on PostgreSQL, concurrent workers never claim the same row."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from adapters.sql_delivery_queue import SqlDeliveryQueue
from application.deliveries import FAILED, PENDING, SUCCEEDED, Attempt, Settlement
from application.ports import Backlog, NewDelivery
from entrypoints.bootstrap import AnyDeliveryQueue, build_delivery_queue
from tests.conftest import make_settings
from tests.fakes import FixedClock

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def queue(any_url: str, clock: FixedClock) -> Iterator[AnyDeliveryQueue]:
    queue = build_delivery_queue(make_settings(any_url), clock)
    yield queue
    queue.close()


def delivery(webhook: UUID, position: int, event_type: str = "edge.node.registered") -> NewDelivery:
    return NewDelivery(uuid4(), webhook, uuid4(), event_type, position,
                       b'{"position":%d,"bytes":"\x00\xff"}' % position)


def settle(queue: AnyDeliveryQueue, clock: FixedClock, status: str, code: int | None) -> None:
    (claim,) = queue.claim(clock.now(), 1, 30)
    attempt = Attempt(claim.attempts + 1, clock.now(), code, None if code == 200 else "boom", 12)
    later = clock.now() + timedelta(seconds=5) if status == PENDING else None
    assert queue.settle(claim, Settlement(status, clock.now(), later, attempt, attempt.error))


def test_enqueue_is_idempotent_and_claims_return_the_exact_body(
    queue: AnyDeliveryQueue, clock: FixedClock
) -> None:
    webhook = uuid4()
    owed = [delivery(webhook, p) for p in (3, 1, 2)]
    assert queue.enqueue(owed) == 3
    assert queue.enqueue([*owed, delivery(webhook, 4)]) == 1
    claims = queue.claim(clock.now(), 10, 30)
    assert [c.position for c in claims] == [1, 2, 3, 4]
    by_id = {d.id: d for d in owed}
    for claim in claims[:3]:
        original = by_id[claim.id]
        assert (claim.body, claim.webhook_id, claim.message_id, claim.attempts) == (
            original.body, webhook, original.message_id, 0)
    assert queue.claim(clock.now(), 10, 30) == []  # all leased


def test_claims_leave_out_or_keep_to_the_webhooks_asked(
    queue: AnyDeliveryQueue, clock: FixedClock
) -> None:
    """The worker claims slow webhooks' deliveries apart, up to their share (Deliverer)."""
    slow, other, third = uuid4(), uuid4(), uuid4()
    queue.enqueue([delivery(slow, 1), delivery(slow, 2), delivery(other, 3), delivery(third, 4)])
    claims = queue.claim(clock.now(), 10, 30, exclude=[slow, third])
    assert [(c.webhook_id, c.position) for c in claims] == [(other, 3)]
    claims = queue.claim(clock.now(), 1, 30, only=slow)
    assert [(c.webhook_id, c.position) for c in claims] == [(slow, 1)]
    claims = queue.claim(clock.now(), 10, 30, exclude=[other])
    assert [(c.webhook_id, c.position) for c in claims] == [(slow, 2), (third, 4)]


def test_expired_lease_is_retried_and_the_stale_holder_is_fenced_off(
    queue: AnyDeliveryQueue, clock: FixedClock
) -> None:
    webhook = uuid4()
    queue.enqueue([delivery(webhook, 1)])
    (first,) = queue.claim(clock.now(), 10, 30)
    clock.advance(31)  # the first worker died (or hung) holding the lease
    (second,) = queue.claim(clock.now(), 10, 30)
    assert (second.id, second.body) == (first.id, first.body)
    done = Settlement(SUCCEEDED, clock.now(), None, Attempt(1, clock.now(), 200, None, 3), None)
    assert not queue.settle(first, done)
    assert queue.settle(second, done)
    assert not queue.settle(second, done)  # settled rows are final
    record = queue.get(first.id)
    assert record is not None
    assert (record.status, record.attempts, record.delivered_at) == (SUCCEEDED, 1, clock.now())


def test_retry_schedule_and_history(queue: AnyDeliveryQueue, clock: FixedClock) -> None:
    webhook, other = uuid4(), uuid4()
    queue.enqueue([delivery(webhook, 1), delivery(other, 2)])
    queue.enqueue([delivery(webhook, 3, "edge.node.status_changed")])
    # position 1 fails once then succeeds; others stay untouched.
    (claim,) = [c for c in queue.claim(clock.now(), 10, 30) if c.position == 1]
    attempt = Attempt(1, clock.now(), 503, "HTTP 503", 40)
    retry_at = clock.now() + timedelta(seconds=5)
    assert queue.settle(claim, Settlement(PENDING, clock.now(), retry_at, attempt, "HTTP 503"))
    clock.advance(31)  # the other two leases lapse; position 1 is due again too
    assert sorted(c.position for c in queue.claim(clock.now(), 10, 30)) == [1, 2, 3]
    clock.advance(31)
    claims = {c.position: c for c in queue.claim(clock.now(), 10, 30)}
    assert claims[1].attempts == 1
    assert queue.settle(claims[1], Settlement(
        SUCCEEDED, clock.now(), None, Attempt(2, clock.now(), 200, None, 7), None))
    assert queue.settle(claims[3], Settlement(FAILED, clock.now(), None, None, "webhook deleted"))

    records, total = queue.page(webhook)
    assert total == 2
    assert [r.position for r in records] == [3, 1]  # newest first
    assert [(a.attempt, a.status_code, a.error) for a in records[1].attempt_log] == [
        (1, 503, "HTTP 503"), (2, 200, None)]
    assert (records[1].status, records[1].last_status_code, records[1].next_attempt_at) == (
        SUCCEEDED, 200, None)
    assert (records[0].status, records[0].attempts, records[0].last_error) == (
        FAILED, 0, "webhook deleted")
    assert queue.page(webhook, status=FAILED)[1] == 1
    assert queue.page(webhook, event_type="edge.node.registered")[0][0].position == 1
    assert queue.page(webhook, page=2, page_size=1)[0][0].position == 1
    assert queue.counts(webhook) == {"pending": 0, "succeeded": 1, "failed": 1}
    assert queue.counts() == {"pending": 1, "succeeded": 1, "failed": 1}


def test_backlog_counts_what_is_owed_and_since_when(
    queue: AnyDeliveryQueue, clock: FixedClock
) -> None:
    assert queue.backlog() == Backlog(0, None)
    first_enqueued = clock.now()
    webhook = uuid4()
    queue.enqueue([delivery(webhook, 1), delivery(webhook, 2)])
    clock.advance(10)
    queue.enqueue([delivery(uuid4(), 3)])
    assert queue.backlog() == Backlog(3, first_enqueued)
    # Leased and retrying rows are still owed; a delivered or failed one is not.
    claims = {c.position: c for c in queue.claim(clock.now(), 10, 30)}
    retry = Settlement(PENDING, clock.now(), clock.now() + timedelta(seconds=5),
                       Attempt(1, clock.now(), 503, "HTTP 503", 4), "HTTP 503")
    assert queue.settle(claims[2], retry)
    assert queue.backlog() == Backlog(3, first_enqueued)
    assert queue.settle(claims[1], Settlement(
        SUCCEEDED, clock.now(), None, Attempt(1, clock.now(), 200, None, 3), None))
    assert queue.settle(claims[3], Settlement(FAILED, clock.now(), None, None, "gone"))
    assert queue.backlog() == Backlog(1, first_enqueued)  # position 2, enqueued first


def test_concurrent_claims_never_share_a_row(any_url: str, clock: FixedClock) -> None:
    if any_url == "memory://":
        pytest.skip("one process only")
    queues = [build_delivery_queue(make_settings(any_url), clock) for _ in range(4)]
    try:
        webhook = uuid4()
        queues[0].enqueue([delivery(webhook, p) for p in range(400)])
        claimed: list[list[UUID]] = [[] for _ in queues]

        def work(index: int) -> None:  # half of them leave a (slow) webhook out: another query
            left_out = [uuid4()] if index % 2 else []
            while batch := queues[index].claim(clock.now(), 7, 30, exclude=left_out):
                claimed[index] += [c.id for c in batch]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queues))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        everything = [i for ids in claimed for i in ids]
        assert len(everything) == len(set(everything)) == 400
    finally:
        for q in queues:
            q.close()


def test_leaving_out_a_slow_webhooks_backlog_costs_no_more_than_having_none(
    pg_url: str, clock: FixedClock
) -> None:
    """A claim that left a slow webhook out walked the due index in order past every due
    delivery of that webhook (they come due first): 100,000 of them made each claim 28 ms and
    halved the other webhooks' rate. The same claims now cost the same whether the slow
    webhook's backlog is due or not."""
    queue = build_delivery_queue(make_settings(pg_url), clock)
    slow, ok = uuid4(), uuid4()
    try:
        queue.enqueue([delivery(ok, p) for p in range(1, 121)])
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            schema = pg_url.split("schema=")[1]
            conn.execute(
                f'INSERT INTO "{schema}".webhook_deliveries (id, webhook_id, message_id, '
                "event_type, position, body, status, next_attempt_at, created_at, updated_at) "
                "SELECT gen_random_uuid(), %s, gen_random_uuid(), 'edge.node.registered', "
                "1000 + n, '\\x7b7d', 'pending', %s - interval '1 hour', %s, %s "
                "FROM generate_series(1, 60000) n", (slow, clock.now(), clock.now(), clock.now()))
            conn.execute(f'ANALYZE "{schema}".webhook_deliveries')

            def cost() -> float:
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    claims = queue.claim(clock.now(), 4, 30, exclude=[slow])
                    times.append(time.perf_counter() - started)
                    assert [c.webhook_id for c in claims] == [ok] * 4
                return sorted(times)[2]

            due = cost()
            conn.execute(f'UPDATE "{schema}".webhook_deliveries SET next_attempt_at = '
                         "next_attempt_at + interval '2 hours' WHERE webhook_id = %s", (slow,))
            not_due = cost()
        assert due < 4 * not_due + 0.002, (due, not_due)
    finally:
        queue.close()


def test_a_batch_due_at_once_is_claimed_in_order_without_sorting_it(
    any_url: str, clock: FixedClock
) -> None:
    """Deliveries enqueued together share one due time, and the due index held the time
    alone: each claim sorted the whole tie by position (100,000 due: 43 ms a claim). The
    index now holds the position too, so a claim reads its first rows in order, and one
    webhook's deliveries still go in log order, claim after claim."""
    if any_url == "memory://":
        pytest.skip("no query plan")
    queue = build_delivery_queue(make_settings(any_url), clock)
    webhooks = [uuid4(), uuid4()]
    try:
        assert isinstance(queue, SqlDeliveryQueue)
        queue.enqueue([delivery(webhooks[p % 2], p) for p in range(3000, 0, -1)])
        firsts = [[c.position for c in queue.claim(clock.now(), 7, 30)] for _ in range(3)]
        assert firsts == [list(range(1, 8)), list(range(8, 15)), list(range(15, 22))]
        mine = queue.claim(clock.now(), 5, 30, only=webhooks[1])
        assert [c.position for c in mine] == [23, 25, 27, 29, 31]
        now, statement = queue._time(clock.now()), queue._due()
        with queue._tx() as cur:
            if queue.postgres:
                cur.execute(f"ANALYZE {queue.t}")
                cur.execute("EXPLAIN " + statement, (now, now, 64))
                plan = "\n".join(row["QUERY PLAN"] for row in cur.fetchall())
            else:
                cur.execute("ANALYZE")
                cur.execute("EXPLAIN QUERY PLAN " + statement, (now, now, 64))
                plan = "\n".join(row["detail"] for row in cur.fetchall())
        assert "sort" not in plan.lower() and "B-TREE" not in plan, plan
        assert "due_position_idx" in plan, plan
    finally:
        queue.close()


def test_claims_of_some_webhooks_read_them_apart_in_any_plan(
    pg_url: str, clock: FixedClock
) -> None:
    """An index in the very order of one webhook's claims (due time, then position) tempted
    the planner to walk it past the other webhooks' rows, filtering on the webhook, when it
    planned for no webhook in particular: a claim that left a slow webhook out (its lateral
    read per webhook) walked the slow one's backlog of 20,000 (7 ms a claim, not 0.1), and so
    did a slow webhook's share when the statistics did not single it out. Both still read
    the (webhook, due) index."""
    queue = build_delivery_queue(make_settings(pg_url), clock)
    slow, ok = uuid4(), uuid4()
    try:
        assert isinstance(queue, SqlDeliveryQueue)
        queue.enqueue([delivery(ok, p) for p in range(1, 121)])
        now = clock.now()
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute(
                f"INSERT INTO {queue.t} (id, webhook_id, message_id, event_type, position, body, "
                "status, next_attempt_at, created_at, updated_at) SELECT gen_random_uuid(), %s, "
                "gen_random_uuid(), 'edge.node.registered', 1000 + n, '\\x7b7d', 'pending', "
                "%s - interval '1 hour', %s, %s FROM generate_series(1, 20000) n",
                (slow, now, now, now))
            conn.execute(f"ANALYZE {queue.t}")
            cur = psycopg.ClientCursor(conn)
            but_slow = cur.mogrify(*queue._due_but([slow], now, 4))
            # One webhook's share, planned for whichever webhook: the webhook a parameter.
            one = cur.mogrify(queue._due("AND webhook_id = %s ", one_webhook=True),
                              (now, now, "$1", 4)).replace("'$1'", "$1::uuid")
            cur.execute(f"PREPARE share AS {one}")
            for explain in (f"EXPLAIN {but_slow}", f"EXPLAIN EXECUTE share('{ok}')"):
                plan = "\n".join(row[0] for row in cur.execute(explain).fetchall())
                assert "due_position_idx" not in plan and "webhook_due_idx" in plan, plan
        assert [c.webhook_id for c in queue.claim(now, 4, 30, exclude=[slow])] == [ok] * 4
    finally:
        queue.close()


def test_claims_that_leave_webhooks_out_take_the_first_due_of_the_others(
    pg_url: str, clock: FixedClock
) -> None:
    """On PostgreSQL such a claim finds the webhooks with due deliveries a window of the
    (webhook, due) index at a time (not by one probe per webhook with deliveries owed). Against
    the rule itself, over webhooks of every shape: none owed but retries (fewer and more than
    a window), due ones behind retries of the same webhook, leased ones, and left out ones."""
    rng = random.Random(7)
    queue = build_delivery_queue(make_settings(pg_url), clock)
    try:
        assert isinstance(queue, SqlDeliveryQueue)
        now = clock.now()
        webhooks = [uuid4() for _ in range(40)]
        due_at: dict[UUID, tuple[datetime, int]] = {}
        position = 0
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            schema = pg_url.split("schema=")[1]
            for webhook in webhooks:
                for _ in range(rng.choice([0, 1, 3, 63, 64, 65, 150])):
                    position += 1
                    row = delivery(webhook, position)
                    at = now + timedelta(seconds=rng.choice([-60, -1, 0, 1, 3600]))
                    leased = now + timedelta(seconds=30) if rng.random() < 0.2 else None
                    conn.execute(
                        f'INSERT INTO "{schema}".webhook_deliveries (id, webhook_id, message_id, '
                        "event_type, position, body, status, next_attempt_at, lease_until, "
                        "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, "
                        "%s, %s, %s)", (row.id, webhook, row.message_id, row.event_type,
                                        position, row.body, at, leased, now, now))
                    if at <= now and leased is None:
                        due_at[row.id] = (at, position)
            conn.execute(f'ANALYZE "{schema}".webhook_deliveries')
        with queue._tx() as cur:
            cur.execute(f"SELECT id, webhook_id FROM {queue.t}")
            of = {row["id"]: row["webhook_id"] for row in cur.fetchall()}
        for _ in range(12):
            left_out = rng.sample(webhooks, rng.choice([1, 3, 10]))
            limit = rng.choice([1, 7, 64])
            expected = sorted((key, i) for i, key in due_at.items() if of[i] not in left_out)
            claims = queue.claim(now, limit, 30, exclude=left_out)
            assert sorted(c.id for c in claims) == sorted(i for _, i in expected[:limit])
            for claim in claims:
                del due_at[claim.id]
    finally:
        queue.close()
