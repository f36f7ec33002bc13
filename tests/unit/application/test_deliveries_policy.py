"""Delivery policy (classification, backoff, Retry-After) and the Deliverer over the in-memory
queue with a scripted transport (a fake of the WebhookTransport port)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from email.utils import format_datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory_delivery_queue import MemoryDeliveryQueue
from application.deliveries import (
    FAILED,
    PENDING,
    SUCCEEDED,
    WEBHOOK_DELETED,
    Claim,
    Deliverer,
    RetryPolicy,
    Sent,
    Settlement,
    Verdict,
    WebhookTarget,
    classify,
    parse_retry_after,
)
from application.ports import NewDelivery
from domain.signing import verify_edge, verify_standard
from tests.fakes import FixedClock

SECRET = b"s" * 32


@pytest.mark.parametrize(("code", "verdict"), [
    (None, Verdict.RECOVERABLE), (200, Verdict.OK), (204, Verdict.OK), (299, Verdict.OK),
    (408, Verdict.RECOVERABLE), (429, Verdict.RECOVERABLE), (500, Verdict.RECOVERABLE),
    (502, Verdict.RECOVERABLE), (503, Verdict.RECOVERABLE), (599, Verdict.RECOVERABLE),
    (301, Verdict.TERMINAL), (302, Verdict.TERMINAL), (307, Verdict.TERMINAL),
    (400, Verdict.TERMINAL), (401, Verdict.TERMINAL), (404, Verdict.TERMINAL),
    (410, Verdict.TERMINAL), (100, Verdict.TERMINAL),
])
def test_classify(code: int | None, verdict: Verdict) -> None:
    assert classify(code) is verdict


@given(attempt=st.integers(1, 10_000), rand=st.floats(0, 1, exclude_max=True),
       base=st.floats(0.01, 60), cap=st.floats(1, 7200))
def test_backoff_stays_between_half_and_whole_ceiling(
    attempt: int, rand: float, base: float, cap: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap)
    ceiling = min(cap, base * 2.0 ** (attempt - 1)) if attempt < 64 else cap
    delay = policy.backoff(attempt, rand)
    assert ceiling / 2 <= delay <= ceiling * (1 + 1e-9) <= cap * (1 + 1e-9)
    assert policy.backoff(attempt + 1, rand) >= delay  # never shorter for a later attempt


def test_default_backoff_doubles_from_two_seconds() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(n, 0.999999) for n in (1, 2, 3, 4)] == pytest.approx([2, 4, 8, 16])
    assert [policy.backoff(n, 0.0) for n in (1, 2, 3)] == [1, 2, 4]
    assert policy.backoff(50, 0.5) == pytest.approx(3600 * 0.75)


@given(seconds=st.integers(0, 10**12), rand=st.floats(0, 1, exclude_max=True))
def test_retry_after_seconds_is_honoured_up_to_an_hour(seconds: int, rand: float) -> None:
    now = FixedClock().now()
    parsed = parse_retry_after(f" {seconds} ", now)
    assert parsed == min(seconds, 10**9)
    assert RetryPolicy().delay(1, parsed, rand) == min(seconds, 3600)


def test_a_retry_after_of_thousands_of_digits_is_the_cap() -> None:
    # int() refuses more than 4300 digits: a receiver's header made the settlement raise.
    assert parse_retry_after("9" * 5000, FixedClock().now()) == 10**9


@given(seconds=st.integers(-86_400, 86_400))
def test_retry_after_http_date(seconds: int) -> None:
    now = FixedClock().now()
    parsed = parse_retry_after(format_datetime(now + timedelta(seconds=seconds), usegmt=True),
                               now)
    assert parsed == max(0, seconds)


@pytest.mark.parametrize("raw", [None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2026", "\u0665"])
def test_unusable_retry_after_falls_back_to_backoff(raw: str | None) -> None:
    assert parse_retry_after(raw, FixedClock().now()) is None


# --- the Deliverer over the memory queue ---------------------------------------------------
class ScriptedTransport:
    """Answers each send with the next scripted result and records what it was given."""

    def __init__(self, *script: Sent) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        self.requests.append((url, body, dict(headers)))
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    async def close(self) -> None:
        return None


class World:
    def __init__(self, *script: Sent, max_attempts: int = 3) -> None:
        self.clock = FixedClock()
        self.queue = MemoryDeliveryQueue(self.clock)
        self.transport = ScriptedTransport(*script)
        self.webhook = uuid4()
        self.targets = {self.webhook: WebhookTarget("https://example.com/h", SECRET,
                                                    {"Authorization": "Bearer t"})}
        self.deliverer = Deliverer(self.queue, self.transport, self.targets.get, self.clock,
                                   RetryPolicy(max_attempts=max_attempts), lease_seconds=30,
                                   rand=lambda: 0.5)

    def enqueue(self, webhook: UUID | None = None) -> UUID:
        delivery = NewDelivery(uuid4(), webhook or self.webhook, uuid4(), "edge.node.registered",
                               7, b'{"n":7}')
        assert self.queue.enqueue([delivery, delivery]) == 1
        return delivery.id

    def round(self) -> int:
        return asyncio.run(self.deliverer.deliver_due())


def test_success_is_signed_and_recorded() -> None:
    world = World(Sent(status_code=204))
    delivery_id = world.enqueue()
    assert world.round() == 1
    url, body, headers = world.transport.requests[0]
    assert (url, body, headers["Authorization"]) == ("https://example.com/h", b'{"n":7}',
                                                     "Bearer t")
    now = int(world.clock.now().timestamp())
    assert verify_standard(headers, body, SECRET, now) == str(delivery_id)
    assert verify_edge(headers["X-Edge-Signature"], body, SECRET, now) == now
    assert headers["X-Edge-Event-Type"] == "edge.node.registered"
    record = world.queue.get(delivery_id)
    assert record is not None
    assert (record.status, record.attempts, record.delivered_at) == (SUCCEEDED, 1,
                                                                     world.clock.now())
    assert [(a.attempt, a.status_code, a.error) for a in record.attempt_log] == [(1, 204, None)]
    assert world.round() == 0  # nothing left to do


def test_a_database_that_fails_every_delivery_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It was a warning with its traceback for each delivery, 64 a pass."""
    world = World(Sent(status_code=204))
    for _ in range(20):
        world.enqueue()
    found = world.targets.get

    def away(webhook_id: UUID) -> WebhookTarget | None:
        raise sqlite3.OperationalError("database or disk is full")

    world.deliverer.targets = away
    with caplog.at_level(logging.WARNING, logger="application.deliveries"):
        assert world.round() == 20
        world.clock.advance(31)  # the leases lapse
        assert world.round() == 20
        world.deliverer.targets = found
        world.clock.advance(31)
        assert world.round() == 20
    said = [(r.getMessage(), r.exc_info) for r in caplog.records]
    assert said == [("looking up or recording deliveries failed; retrying: OperationalError: "
                     "database or disk is full", None),
                    ("looking up or recording deliveries works again", None)]


class FullDisk:
    """A ledger on a full disk, as SQLite's behaves: a claim that would lease rows fails, one
    that finds nothing due (it writes nothing) goes through; they took turns."""

    def __init__(self) -> None:
        self.claims = 0

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        raise sqlite3.OperationalError("database or disk is full")

    def claim(self, now: datetime, limit: int, lease_seconds: float, *,
              exclude: Collection[UUID] = (), only: UUID | None = None) -> list[Claim]:
        self.claims += 1
        if self.claims % 2:
            raise sqlite3.OperationalError("database or disk is full")
        return []

    def settle(self, claim: Claim, settlement: Settlement) -> bool:
        raise sqlite3.OperationalError("database or disk is full")


def test_claims_that_fail_and_find_nothing_in_turn_are_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = FullDisk()
    targets: dict[UUID, WebhookTarget] = {}
    deliverer = Deliverer(ledger, ScriptedTransport(Sent(status_code=204)), targets.get,
                          FixedClock(), poll_interval=0.001)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        while ledger.claims < 10:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(runner, 5)

    with caplog.at_level(logging.WARNING, logger="application.deliveries"):
        asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records] == [
        "claiming deliveries failed; retrying: OperationalError: database or disk is full"]


def test_server_error_is_retried_after_backoff_then_succeeds() -> None:
    world = World(Sent(status_code=500), Sent(status_code=200))
    delivery_id = world.enqueue()
    world.round()
    record = world.queue.get(delivery_id)
    assert record is not None and record.status == PENDING
    assert record.next_attempt_at == world.clock.now() + timedelta(seconds=1.5)  # 1 + 0.5 * 1
    assert world.round() == 0  # not due yet
    world.clock.advance(1.5)
    assert world.round() == 1
    record = world.queue.get(delivery_id)
    assert record is not None
    assert (record.status, [a.status_code for a in record.attempt_log]) == (SUCCEEDED, [500, 200])
    ids = {r[2]["webhook-id"] for r in world.transport.requests}
    assert ids == {str(delivery_id)} and len({r[1] for r in world.transport.requests}) == 1


def test_retry_after_is_honoured() -> None:
    world = World(Sent(status_code=429, retry_after="120"), Sent(status_code=200))
    delivery_id = world.enqueue()
    world.round()
    record = world.queue.get(delivery_id)
    assert record is not None
    assert record.next_attempt_at == world.clock.now() + timedelta(seconds=120)


@pytest.mark.parametrize("sent", [Sent(status_code=400), Sent(status_code=302),
                                  Sent(error="destination refused: private", denied=True)])
def test_terminal_outcomes_fail_after_one_attempt(sent: Sent) -> None:
    world = World(sent)
    delivery_id = world.enqueue()
    world.round()
    record = world.queue.get(delivery_id)
    assert record is not None and (record.status, record.attempts) == (FAILED, 1)
    assert record.last_error


def test_network_errors_exhaust_the_budget() -> None:
    world = World(Sent(error="connect failed"), max_attempts=4)
    delivery_id = world.enqueue()
    for _ in range(4):
        world.round()
        world.clock.advance(3600)
    record = world.queue.get(delivery_id)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == (FAILED, 4, "connect failed")
    assert record.last_status_code is None and len(world.transport.requests) == 4


def test_deliveries_of_a_deleted_webhook_fail_without_sending() -> None:
    world = World(Sent(status_code=200))
    delivery_id = world.enqueue(webhook=uuid4())
    world.round()
    record = world.queue.get(delivery_id)
    assert record is not None
    assert (record.status, record.attempts, record.last_error) == (FAILED, 0, WEBHOOK_DELETED)
    assert world.transport.requests == []


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_settle() -> None:
    world = World(Sent(status_code=200))
    delivery_id = world.enqueue()
    first = world.queue.claim(world.clock.now(), 10, 30)
    assert world.queue.claim(world.clock.now(), 10, 30) == []  # leased
    world.clock.advance(31)
    second = world.queue.claim(world.clock.now(), 10, 30)
    assert [(c.id, c.body) for c in second] == [(first[0].id, first[0].body)]
    stale = world.deliverer.judge(first[0], Sent(status_code=200), world.clock.now(), 5)
    assert not world.queue.settle(first[0], stale)
    assert world.queue.settle(second[0], stale)
    assert world.queue.counts(world.webhook) == {"pending": 0, "succeeded": 1, "failed": 0}
    assert world.queue.page(world.webhook)[0][0].id == delivery_id


def test_run_delivers_as_soon_as_woken() -> None:
    world = World(Sent(status_code=200))
    world.deliverer.poll_interval = 30  # only the wake-up can make this test pass in time

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(world.deliverer.run(stop))
        await asyncio.sleep(0.05)
        world.enqueue()
        world.deliverer.wake()
        for _ in range(200):
            if world.queue.counts()["succeeded"]:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(runner, 5)

    asyncio.run(scenario())
    assert world.queue.counts() == {"pending": 0, "succeeded": 1, "failed": 0}
    assert world.deliverer.counts[SUCCEEDED] == 1


class PacedTransport:
    """Answers at once, but a request to a `hang` host only after `hang` seconds, with no
    answer (a receiver that never answers, seen at the timeout)."""

    def __init__(self, hang: float) -> None:
        self.hang = hang
        self.sent: list[str] = []

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        self.sent.append(url)
        if "hang" in url:
            await asyncio.sleep(self.hang)
            return Sent(error=f"no answer within {self.hang:g}s")
        return Sent(status_code=204)

    async def close(self) -> None:
        return None


def test_a_receiver_that_hangs_does_not_hold_up_the_other_webhooks() -> None:
    """A hanging receiver's deliveries came due first and took every slot in turn, so another
    webhook's waited for all of them, one timeout per `concurrency` (seen: 6 webhooks
    delivering 8 a second between them, one of them hanging). A slow webhook now has its
    share of the slots, no more."""
    clock = FixedClock()
    queue = MemoryDeliveryQueue(clock)
    hang, ok = uuid4(), uuid4()
    targets = {hang: WebhookTarget("https://hang.example.com/h", SECRET, {}),
               ok: WebhookTarget("https://ok.example.com/h", SECRET, {})}
    transport = PacedTransport(hang=0.2)
    deliverer = Deliverer(queue, transport, targets.get, clock, lease_seconds=30, concurrency=4,
                          rand=lambda: 0.5, slow_after=0.1)
    queue.enqueue([NewDelivery(uuid4(), hang, uuid4(), "edge.node.registered", n, b"{}")
                   for n in range(40)])
    queue.enqueue([NewDelivery(uuid4(), ok, uuid4(), "edge.node.registered", 40 + n, b"{}")
                   for n in range(8)])

    async def scenario() -> int:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            for _ in range(1000):
                if queue.counts(ok)[SUCCEEDED] == 8:
                    break
                await asyncio.sleep(0.01)
            return sum("hang" in url for url in transport.sent)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    hung = asyncio.run(scenario())
    assert queue.counts(ok)[SUCCEEDED] == 8
    assert hung <= 4 + deliverer.slow_share  # its first claim (still unknown), then its share


class FlappingTransport:
    """A receiver behind a balancer with one dead backend: every other request to a `flap`
    host fails at once (503), the others hang `hang` seconds with no answer."""

    def __init__(self, hang: float) -> None:
        self.hang = hang
        self.requests = self.hanging = self.most_hanging = 0

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        self.requests += 1
        if self.requests % 2:
            return Sent(status_code=503)
        self.hanging += 1
        self.most_hanging = max(self.most_hanging, self.hanging)
        try:
            await asyncio.sleep(self.hang)
        finally:
            self.hanging -= 1
        return Sent(error=f"no answer within {self.hang:g}s")

    async def close(self) -> None:
        return None


def test_a_receiver_that_fails_fast_between_hangs_keeps_to_its_share() -> None:
    """Each quick failure made a slow webhook fast again, so its next claim took every free
    slot and half of them hung: 16 of 16 slots hanging for a share of 4. It is fast again
    only after its share of fast attempts in a row, with none of its others hanging."""
    clock = FixedClock()
    queue = MemoryDeliveryQueue(clock)
    flap = uuid4()
    transport = FlappingTransport(hang=0.6)
    deliverer = Deliverer(queue, transport, {flap: WebhookTarget(
        "https://flap.example.com/h", SECRET, {})}.get, clock, lease_seconds=30, concurrency=16,
        poll_interval=0.02, rand=lambda: 0.5, slow_after=0.1)
    queue.enqueue([NewDelivery(uuid4(), flap, uuid4(), "edge.node.registered", n, b"{}")
                   for n in range(400)])

    async def scenario() -> int:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            await asyncio.sleep(0.8)  # its first claims (still unknown) took every slot
            transport.most_hanging = transport.hanging  # they hung until 0.6 s
            await asyncio.sleep(1.5)
            return transport.most_hanging
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    assert asyncio.run(scenario()) <= deliverer.slow_share == 4


class RecoveringTransport:
    """Hangs `hang` seconds (no answer) until `until` on the loop's clock, then answers 204
    after 10 ms; counts the requests out at once after it recovered."""

    def __init__(self, hang: float, until: float) -> None:
        self.hang, self.until = hang, until
        self.out = self.most_out = 0

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        if asyncio.get_running_loop().time() < self.until:
            await asyncio.sleep(self.hang)
            return Sent(error=f"no answer within {self.hang:g}s")
        self.out += 1
        self.most_out = max(self.most_out, self.out)
        await asyncio.sleep(0.01)
        self.out -= 1
        return Sent(status_code=204)

    async def close(self) -> None:
        return None


def test_a_slow_webhook_that_turns_fast_again_gets_every_slot_again() -> None:
    clock = FixedClock()
    queue = MemoryDeliveryQueue(clock)
    webhook = uuid4()
    queue.enqueue([NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", n, b"{}")
                   for n in range(3000)])

    async def scenario() -> int:
        transport = RecoveringTransport(hang=0.3, until=asyncio.get_running_loop().time() + 0.5)
        deliverer = Deliverer(queue, transport, {webhook: WebhookTarget(
            "https://back.example.com/h", SECRET, {})}.get, clock, lease_seconds=30,
            concurrency=16, poll_interval=0.02, rand=lambda: 0.5, slow_after=0.1)
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            await asyncio.sleep(2)
            return transport.most_out
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    assert asyncio.run(scenario()) > 8  # past its share of 4


class CountedQueue(MemoryDeliveryQueue):
    """The in-memory queue, counting the claims asked of it."""

    claims = 0

    def claim(self, now: datetime, limit: int, lease_seconds: float, *,
              exclude: Collection[UUID] = (), only: UUID | None = None) -> list[Claim]:
        self.claims += 1
        return super().claim(now, limit, lease_seconds, exclude=exclude, only=only)


class SlowTransport:
    """Answers 204 after `after` seconds."""

    def __init__(self, after: float) -> None:
        self.after = after

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        await asyncio.sleep(self.after)
        return Sent(status_code=204)

    async def close(self) -> None:
        return None


def test_slow_webhooks_with_nothing_left_are_let_go() -> None:
    """A slow webhook's share is claimed apart, one query a pass; one slow answer kept a
    webhook slow for good, so 50 webhooks that had each answered slowly once, with nothing
    due, cost 102 claims a second instead of 2 for as long as the worker ran."""
    clock = FixedClock()
    queue = CountedQueue(clock)
    webhooks = [uuid4() for _ in range(10)]
    queue.enqueue([NewDelivery(uuid4(), w, uuid4(), "edge.node.registered", n, b"{}")
                   for n, w in enumerate(webhooks)])
    target = WebhookTarget("https://slow.example.com/h", SECRET, {})
    deliverer = Deliverer(queue, SlowTransport(0.15), dict.fromkeys(webhooks, target).get,
                          clock, poll_interval=0.05, slow_after=0.1, slow_forget=0.3)

    async def scenario() -> int:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            await asyncio.sleep(1)  # delivered (slowly) at once, then let go after 0.3 s
            before = queue.claims
            await asyncio.sleep(1)
            return queue.claims - before
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    assert asyncio.run(scenario()) <= 2 / 0.05  # one a pass; was 11 a pass
    assert queue.counts()[SUCCEEDED] == 10


def test_a_slow_webhook_deleted_with_a_backlog_has_it_failed_at_once() -> None:
    """Its deliveries fail without a request ("webhook deleted"), yet it stayed slow (only an
    attempt's duration changed that), so they failed its share a pass: 16 every half second,
    an hour for a backlog of 100,000."""
    clock = FixedClock()
    queue = MemoryDeliveryQueue(clock)
    webhook = uuid4()
    targets = {webhook: WebhookTarget("https://slow.example.com/h", SECRET, {})}
    deliverer = Deliverer(queue, SlowTransport(0.15), targets.get, clock, slow_after=0.1)
    queue.enqueue([NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", 0, b"{}")])

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            await asyncio.sleep(0.3)  # one slow delivery: the webhook is slow
            del targets[webhook]
            queue.enqueue([NewDelivery(uuid4(), webhook, uuid4(), "edge.node.registered", n,
                                       b"{}") for n in range(1, 2001)])
            deliverer.wake()
            for _ in range(300):
                if queue.counts()[FAILED] == 2000:
                    return
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    asyncio.run(scenario())
    assert queue.counts() == {PENDING: 0, SUCCEEDED: 1, FAILED: 2000}


class TimedTransport:
    """Hangs `hang` seconds on a `hang` host; answers others at once, noting how long each
    waited since it was enqueued (`enqueued`, by event id)."""

    def __init__(self, hang: float) -> None:
        self.hang = hang
        self.enqueued: dict[str, float] = {}
        self.waited: list[float] = []

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent:
        if "hang" in url:
            await asyncio.sleep(self.hang)
            return Sent(error=f"no answer within {self.hang:g}s")
        self.waited.append(time.monotonic() - self.enqueued[headers["X-Edge-Event-Id"]])
        return Sent(status_code=204)

    async def close(self) -> None:
        return None


def test_slow_webhooks_together_leave_the_others_room() -> None:
    """Each slow webhook had a quarter of the slots, so four that hung held every slot between
    them and each other webhook's delivery waited for one of them to time out (median half a
    timeout). Together they now have half of the slots."""
    clock = FixedClock()
    queue = MemoryDeliveryQueue(clock)
    hanging, ok = [uuid4() for _ in range(6)], uuid4()
    targets = dict.fromkeys(hanging, WebhookTarget("https://hang.example.com/h", SECRET, {}))
    targets[ok] = WebhookTarget("https://ok.example.com/h", SECRET, {})
    transport = TimedTransport(hang=0.6)
    deliverer = Deliverer(queue, transport, targets.get, clock, concurrency=16,
                          rand=lambda: 0.5, slow_after=0.1)
    queue.enqueue([NewDelivery(uuid4(), w, uuid4(), "edge.node.registered", n, b"{}")
                   for w in hanging for n in range(100)])

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.create_task(deliverer.run(stop))
        try:
            await asyncio.sleep(1.3)  # every hanging webhook is known slow
            for n in range(50):
                message = uuid4()
                transport.enqueued[str(message)] = time.monotonic()
                queue.enqueue([NewDelivery(uuid4(), ok, message, "edge.node.registered",
                                           1000 + n, b"{}")])
                deliverer.wake()
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.7)
        finally:
            stop.set()
            await asyncio.wait_for(runner, 5)

    asyncio.run(scenario())
    assert len(transport.waited) == 50
    assert sorted(transport.waited)[25] < 0.1  # was about 0.3: half the hang
