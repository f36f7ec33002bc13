"""Webhook delivery: the retry policy and the Deliverer that sends what the queue owes.

A delivery (made by `Webhooks.fan_out`) has its id, the webhook-id header, and its body fixed at
enqueue time, so every attempt by any worker, before or after a crash, sends the same id with
the same bytes. Workers lease due rows; a dead worker's lease expires and another worker retries
the same row. Outcomes (spec §4.4): 2xx ok; network errors, 408, 429, 5xx recoverable until
WEBHOOK_MAX_ATTEMPTS; 3xx (not followed), other 4xx and an SSRF refusal at delivery terminal.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import partial
from typing import Protocol
from uuid import UUID

from application.ports import Clock, NewDelivery
from application.troubles import Trouble
from application.wakeup import Wakeup
from domain.shared import ascii_digits
from domain.signing import edge_signature, standard_signature

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
WEBHOOK_DELETED = "webhook deleted"
UNSEALABLE = "webhook secret cannot be unsealed"
UNSEALABLE_HINT = "the key that sealed it is missing from ENCRYPTION_KEY"
SLOW_AFTER = 1.0  # seconds: an attempt this long makes its webhook slow (Deliverer)
SLOW_FORGET = 60.0  # seconds a slow webhook had nothing due and nothing out: no longer slow
UNPROJECTED = "waiting for the read models to reach position {}"


class Verdict(Enum):
    """What one attempt's result means for the delivery."""

    OK = "ok"
    RECOVERABLE = "recoverable"
    TERMINAL = "terminal"


def classify(status_code: int | None) -> Verdict:
    """None means no HTTP response at all (connection refused, reset, timeout)."""
    if status_code is None:
        return Verdict.RECOVERABLE
    if 200 <= status_code < 300:
        return Verdict.OK
    if status_code in (408, 429) or 500 <= status_code < 600:
        return Verdict.RECOVERABLE
    return Verdict.TERMINAL


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if ascii_digits(value):
        # Ten digits or more is past the cap; int() would refuse more than 4300 of them.
        return float(10**9 if len(value) > 9 else int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt budget and waits between attempts; no wait exceeds `max_delay` (1 h)."""

    max_attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 3600.0

    def backoff(self, attempt: int, rand: float) -> float:
        """Wait after failed attempt `attempt` (1-based): doubling, the upper half jittered so
        receivers recovering from an outage are not hit by every retry at once."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 64))
        return ceiling / 2 + rand * ceiling / 2

    def delay(self, attempt: int, retry_after: float | None, rand: float) -> float:
        """The receiver's Retry-After wins over our own schedule (still capped)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return self.backoff(attempt, rand)


# --- what the Deliverer works with -----------------------------------------------------------
@dataclass(frozen=True)
class Claim(NewDelivery):
    """A pending delivery leased to one worker; `lease` (its expiry) fences the settlement."""

    attempts: int
    lease: datetime


@dataclass(frozen=True)
class Attempt:
    """One request made (or refused before sending) for a delivery."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Settlement:
    """The delivery's state after an attempt: pending (with its next time) or final."""

    status: str
    at: datetime
    next_attempt_at: datetime | None
    attempt: Attempt | None
    error: str | None


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook unsealed for one delivery; never stored or logged."""

    url: str
    secret: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Sent:
    """What the transport got back; status_code None means no response."""

    status_code: int | None = None
    retry_after: str | None = None
    error: str | None = None
    denied: bool = False  # the SSRF guard refused the destination at delivery time


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery as the API shows it, with its attempts (oldest first)."""

    id: UUID
    webhook_id: UUID
    message_id: UUID
    event_type: str
    position: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    attempt_log: tuple[Attempt, ...] = ()


# Ports. They belong in application/ports.py with the others (moved there when wired).
class DeliveryLedger(Protocol):
    """The durable delivery queue as the worker uses it."""

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int: ...

    def claim(self, now: datetime, limit: int, lease_seconds: float, *,
              exclude: Collection[UUID] = (), only: UUID | None = None) -> list[Claim]:
        """Leases up to `limit` due pending deliveries (not leased by a live worker), of no
        webhook in `exclude`, and only of webhook `only` when given."""
        ...

    def settle(self, claim: Claim, settlement: Settlement) -> bool:
        """Records the attempt and new state; False if the lease was lost meanwhile."""
        ...


class WebhookTransport(Protocol):
    """Sends one signed request; SSRF-checks and pins the destination itself."""

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Sent: ...

    async def close(self) -> None: ...


TargetLookup = Callable[[UUID], WebhookTarget | None]


def signed_headers(claim: Claim, secret: bytes, timestamp: int) -> dict[str, str]:
    webhook_id = str(claim.id)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(webhook_id, timestamp, claim.body, secret),
        "X-Edge-Signature": edge_signature(timestamp, claim.body, secret),
        "X-Edge-Event-Type": claim.event_type,
        "X-Edge-Event-Id": str(claim.message_id),
    }


def _describe(sent: Sent) -> str | None:
    if sent.error is not None or sent.status_code is None:
        return sent.error or "no response"
    if 300 <= sent.status_code < 400:
        return f"HTTP {sent.status_code}: redirects are not followed"
    return None if 200 <= sent.status_code < 300 else f"HTTP {sent.status_code}"


class Deliverer:
    """Sends due deliveries with bounded concurrency; records every attempt and outcome."""

    def __init__(  # noqa: PLR0913
        self,
        ledger: DeliveryLedger,
        transport: WebhookTransport,
        targets: TargetLookup,
        clock: Clock,
        policy: RetryPolicy | None = None,
        *,
        lease_seconds: float = 30.0,
        concurrency: int = 64,
        poll_interval: float = 0.5,
        rand: Callable[[], float] = random.random,
        slow_after: float = SLOW_AFTER,
        slow_share: int | None = None,
        slow_forget: float = SLOW_FORGET,
        projected: Callable[[], int] | None = None,
        unprojected_wait: float = 5.0,
    ) -> None:
        self.ledger, self.transport, self.targets, self.clock = ledger, transport, targets, clock
        # The position the read model `targets` reads holds. A webhook missing from it is
        # deleted only once it holds the delivery's event: the webhook existed before that
        # event, and while the read models are rebuilt after an upgrade (or catch up) it may
        # simply not be in yet. Such a delivery waits `unprojected_wait` s, no attempt counted.
        self.projected = projected
        self.unprojected_wait = unprojected_wait
        self.policy = policy or RetryPolicy()
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        # A slow webhook (its last attempt took `slow_after` or more: a receiver that hangs
        # until the timeout, or answers in seconds) has at most `slow_share` deliveries in
        # flight. Without a share, one receiver that hung took every slot in turn (its oldest
        # rows come due first) and every other webhook's deliveries went at its pace: 64 per
        # timeout instead of hundreds a second.
        self.slow_after = slow_after
        self.slow_share = slow_share if slow_share is not None else max(1, concurrency // 4)
        # And slow webhooks together have at most half of them: four that hung held every
        # slot between them, so each other webhook's delivery waited for one of them to time
        # out (half a timeout on average). They take turns at what is left to them.
        self.slow_total = max(self.slow_share, concurrency // 2)
        self._turn = 0
        # Slow webhooks (insertion-ordered), each with its fast attempts in a row since. One
        # fast answer did not make it fast again: a receiver that failed half its requests at
        # once and let the other half hang was taken for fast by each quick failure, and its
        # next claim took every free slot (16 of 16 hanging, for a share of 4). It is fast
        # again after `slow_share` fast attempts in a row, none older still out (`_pace`);
        # and an attempt in flight for `slow_after` makes its webhook slow at once (it waited for
        # the attempt's end: a receiver that began to hang took every slot for a timeout).
        self._slow: dict[UUID, int] = {}
        self._in_flight: Counter[UUID] = Counter()
        self._started: dict[UUID, tuple[UUID, float]] = {}  # claim -> (webhook, monotonic)
        # Since when each slow webhook had nothing due and nothing out. Its share is claimed
        # apart, one query each pass, so it is let go after `slow_forget` of that: one slow
        # answer kept a webhook slow for good (50 such webhooks, nothing due: 102 claims a
        # second instead of 2, for as long as the worker ran).
        self.slow_forget = slow_forget
        self._quiet: dict[UUID, float] = {}
        self.poll_interval = poll_interval
        self.rand = rand
        self.counts = {"attempts": 0, SUCCEEDED: 0, FAILED: 0, "recoverable": 0, "lost_leases": 0}
        self._wakeup = Wakeup()
        self._claims = Trouble(log, "claiming deliveries")
        # The lease lapses and the same row is tried again.
        self._records = Trouble(log, "looking up or recording deliveries")

    def wake(self, *_: object) -> None:
        """Thread-safe: new deliveries were enqueued, claim now instead of at the next poll."""
        self._wakeup.set()

    def judge(self, claim: Claim, sent: Sent, started: datetime, duration_ms: int) -> Settlement:
        """The state a delivery moves to after one attempt (pure apart from the jitter)."""
        number = claim.attempts + 1
        error = _describe(sent)
        attempt = Attempt(number, started, sent.status_code, error, duration_ms)
        at = self.clock.now()
        verdict = Verdict.TERMINAL if sent.denied else classify(sent.status_code)
        if verdict is Verdict.OK:
            return Settlement(SUCCEEDED, at, None, attempt, None)
        if verdict is Verdict.RECOVERABLE and number < self.policy.max_attempts:
            wait = self.policy.delay(number, parse_retry_after(sent.retry_after, at), self.rand())
            return Settlement(PENDING, at, at + timedelta(seconds=wait), attempt, error)
        return Settlement(FAILED, at, None, attempt, error)

    async def attempt(self, claim: Claim) -> Settlement:
        """One attempt: look the webhook up, sign, send, judge."""
        started = self.clock.now()
        try:
            target = await asyncio.to_thread(self.targets, claim.webhook_id)
        except ValueError as exc:  # its key is missing (the lookup logged and counted it)
            return Settlement(FAILED, started, None, None,
                              f"{UNSEALABLE}: {exc}; {UNSEALABLE_HINT}")
        if target is None:
            if self.projected is not None and await asyncio.to_thread(
                    self.projected) < claim.position:
                return Settlement(PENDING, started,
                                  started + timedelta(seconds=self.unprojected_wait), None,
                                  UNPROJECTED.format(claim.position))
            return Settlement(FAILED, started, None, None, WEBHOOK_DELETED)
        headers = {**target.headers,
                   **signed_headers(claim, target.secret, int(started.timestamp()))}
        clock = time.monotonic()
        try:
            sent = await self.transport.send(target.url, claim.body, headers)
        except Exception as exc:  # noqa: BLE001 - a transport bug must not stop the worker
            sent = Sent(error=f"{type(exc).__name__}: {exc}")
        return self.judge(claim, sent, started, round((time.monotonic() - clock) * 1000))

    async def deliver(self, claim: Claim) -> Settlement | None:
        """One attempt, recorded; None when the database failed (the lease lapses and the same
        row is tried again)."""
        try:
            settlement = await self.attempt(claim)
            kept = await asyncio.to_thread(self.ledger.settle, claim, settlement)
        except Exception as exc:  # noqa: BLE001 - the worker outlives database outages
            # Said once, not once per delivery with its traceback: a full disk or an outage
            # gave 64 tracebacks a pass, hundreds in a minute.
            self._records.failed(exc)
            return None
        self._records.over()
        if settlement.attempt is not None:
            self._pace(claim, settlement.attempt)
        elif settlement.status == FAILED:  # no request (its webhook deleted, a key missing):
            self._slow.pop(claim.webhook_id, None)  # the rest fail as fast, all at once
        self.counts["attempts"] += settlement.attempt is not None
        if not kept:
            self.counts["lost_leases"] += 1
        else:
            self.counts["recoverable" if settlement.status == PENDING else settlement.status] += 1
        return settlement

    async def deliver_due(self, limit: int = 1000) -> int:
        """Claims what is due now and delivers it; returns how many were attempted."""
        claims = await asyncio.to_thread(
            self.ledger.claim, self.clock.now(), limit, self.lease_seconds
        )
        await asyncio.gather(*(self.deliver(c) for c in claims))
        return len(claims)

    async def run(self, stop: asyncio.Event) -> None:
        """Keeps up to `concurrency` deliveries in flight until `stop`; then lets them finish."""
        self._wakeup.bind()
        inflight: set[asyncio.Task[Settlement | None]] = set()
        try:
            while not stop.is_set():
                self._wakeup.clear()
                free = self.concurrency - len(inflight)
                claims = await self._claim_fairly(free) if free > 0 else []
                for claim in claims:
                    task = asyncio.create_task(self.deliver(claim))
                    inflight.add(task)
                    self._in_flight[claim.webhook_id] += 1
                    self._started[claim.id] = (claim.webhook_id, time.monotonic())
                    task.add_done_callback(partial(self._landed, claim))
                    task.add_done_callback(inflight.discard)
                if free > 0 and len(claims) < free:
                    await self._wakeup.sleep(stop, self.poll_interval)
                elif inflight:  # more may be due: go on as soon as a slot frees
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wakeup.unbind()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)

    async def close(self) -> None:
        await self.transport.close()

    def _pace(self, claim: Claim, attempt: Attempt) -> None:
        webhook_id = claim.webhook_id
        if attempt.duration_ms >= self.slow_after * 1000:
            self._slow[webhook_id] = 0
        elif webhook_id in self._slow:
            # Fast again only once this attempt is its oldest in flight: an older one still
            # out may be hanging (younger than slow_after, nothing says so yet).
            _, began = self._started.get(claim.id, (webhook_id, 0.0))
            older = any(w == webhook_id and at < began and other != claim.id
                        for other, (w, at) in self._started.items())
            streak = self._slow[webhook_id] + 1
            if streak >= self.slow_share and not older:
                del self._slow[webhook_id]
            else:
                self._slow[webhook_id] = streak

    def _landed(self, claim: Claim, _: object) -> None:
        self._started.pop(claim.id, None)
        self._in_flight[claim.webhook_id] -= 1
        if self._in_flight[claim.webhook_id] <= 0:
            del self._in_flight[claim.webhook_id]

    async def _claim_fairly(self, free: int) -> list[Claim]:
        """Up to `free` claims: any webhook's but the slow ones', then each slow one's up to
        its share."""
        now = time.monotonic()  # one hanging now is slow already, before its timeout
        for webhook_id, at in list(self._started.values()):
            if now - at >= self.slow_after:
                self._slow[webhook_id] = 0
        slow = list(self._slow)
        claims = await self._claim(free, exclude=slow)
        left = self.slow_total - sum(self._in_flight[w] for w in slow)
        self._turn = (self._turn + 1) % max(len(slow), 1)
        for webhook_id in slow[self._turn:] + slow[:self._turn]:
            room = min(self.slow_share - self._in_flight[webhook_id], free - len(claims), left)
            if room > 0:
                mine = await self._claim(room, only=webhook_id)
                claims += mine
                left -= len(mine)
                if mine or self._in_flight[webhook_id]:
                    self._quiet.pop(webhook_id, None)
                elif now - self._quiet.setdefault(webhook_id, now) >= self.slow_forget:
                    self._slow.pop(webhook_id, None)
                    del self._quiet[webhook_id]
        return claims

    async def _claim(self, limit: int, exclude: Collection[UUID] = (),
                     only: UUID | None = None) -> list[Claim]:
        try:
            claimed = await asyncio.to_thread(partial(
                self.ledger.claim, self.clock.now(), limit, self.lease_seconds,
                exclude=exclude, only=only))
        except Exception as exc:  # noqa: BLE001 - the worker outlives database outages
            self._claims.failed(exc)
            return []
        if claimed:  # one that found nothing due wrote nothing: it proves nothing (a full disk
            self._claims.over()  # had the log say 'failed' and 'works again' twice a second)
        return claimed
