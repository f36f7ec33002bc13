"""`edge-admin events replay`: re-send a range of the event log to NATS and/or one webhook.

Copies keep the stored message body (same `id`) and get a fresh Nats-Msg-Id / delivery id per
run plus an `Edge-Replay: <run id>` header, so JetStream's duplicate window and the delivery
queue accept them and subscribers can tell them from first deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from adapters.nats_publisher import JetStreamPublisher
from application.errors import NotFoundError
from application.event_log import select_types
from application.event_replay import (
    ReplayRange,
    WebhookTarget,
    read_range,
    replay_headers,
    webhook_target,
)
from application.ports import DeliveryQueue
from domain.event_stream import StreamSettings
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings


class ReplayError(Exception):
    """The replay cannot start as asked; the message says why."""


@dataclass(frozen=True)
class ReplayOptions:
    """What the command line asked for."""

    start: int
    stop: int | None = None
    types: tuple[str, ...] = ()
    nats: bool = False
    webhook_id: UUID | None = None
    dry_run: bool = False
    run_id: UUID = field(default_factory=uuid4)

    def check(self, nats_url: str) -> None:
        """What can be refused before the database is opened (and the run announced)."""
        if not (self.nats or self.webhook_id or self.dry_run):
            raise ReplayError("nothing to do: pass --nats and/or --webhook WEBHOOK_ID "
                              "(or --dry-run)")
        if self.nats and not nats_url:
            raise ReplayError("--nats needs NATS_URL to be set")
        if self.stop is not None and self.stop < self.start:
            raise ReplayError(f"--to ({self.stop}) is before --from ({self.start})")


@dataclass
class ReplayReport:
    run_id: UUID
    start: int
    stop: int
    targets: list[str]
    dry_run: bool
    events: int = 0
    published: int = 0
    duplicates: int = 0  # of those published, copies the stream had already (dropped)
    enqueued: int = 0
    first: int | None = None
    last: int | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        would = "would be " if self.dry_run else ""
        found = f"positions {self.first}..{self.last}" if self.events else "none"
        dropped = (f" ({self.duplicates} of them in the stream already: dropped)"
                   if self.duplicates else "")
        return (
            f"replay {self.run_id}{' (dry run)' if self.dry_run else ''}: {self.events} events "
            f"({found}) in range {self.start}..{self.stop} for "
            f"{' and '.join(self.targets) or 'no target'}: {self.published} {would}published "
            f"to NATS{dropped}, {self.enqueued} deliveries {would}queued; {self.seconds:.2f}s "
            f"({self.rate:,.0f} events/s)"
        )


def _plan(
    services: Services, options: ReplayOptions
) -> tuple[ReplayRange, WebhookTarget | None, list[str]]:
    options.check(services.settings.nats_url)
    end = services.store.recorder.max_notification_id() or 0
    if options.stop is None and end < options.start:
        raise ReplayError(f"the event log ends at position {end}; nothing from {options.start}")
    target, targets = None, []
    if options.nats:
        targets.append(f"NATS stream {services.settings.nats_stream}")
    if options.webhook_id is not None:
        try:
            target = webhook_target(services.store, options.webhook_id, options.types)
        except NotFoundError as exc:
            raise ReplayError(exc.message) from None
        targets.append(f"webhook {options.webhook_id}")
    # Read only what some target takes: everything for NATS, the webhook's types otherwise.
    types = options.types or (() if options.nats or target is None else tuple(target.types))
    try:
        selection = ReplayRange(options.start, end if options.stop is None else options.stop,
                                types)
    except ValueError as exc:
        raise ReplayError(str(exc)) from None
    return selection, target, targets


async def replay(
    services: Services, options: ReplayOptions, queue: DeliveryQueue | None = None,
    progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Re-sends the selected range; `queue` defaults to the webhooks' delivery queue;
    `progress` hears the report after each batch."""
    selection, target, targets = _plan(services, options)
    report = ReplayReport(options.run_id, selection.start, selection.stop, targets,
                          options.dry_run)
    nats_types = frozenset(options.types)
    queue = queue or services.webhooks.queue
    publisher = None
    if options.nats and not options.dry_run:
        settings = services.settings
        # Copies with their own message ids (replay_headers), so JetStream keeps them.
        publisher = JetStreamPublisher(
            settings.nats_url, StreamSettings(settings.nats_stream, settings.nats_subject_prefix),
            name="edge-replay", headers=lambda m: replay_headers(m, options.run_id))
        await publisher.start()
    started = time.perf_counter()
    try:
        batches = read_range(services.store, selection)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            report.events += len(batch)
            report.first = batch[0].position if report.first is None else report.first
            report.last = batch[-1].position
            to_nats = [m for m in batch if not nats_types or m.type in nats_types]
            owed = target.deliveries(batch, options.run_id) if target else []
            if options.dry_run:
                report.published += len(to_nats) if options.nats else 0
                report.enqueued += len(owed)
                if progress is not None:
                    report.seconds = time.perf_counter() - started
                    progress(report)
                continue
            if publisher is not None:
                await publisher.publish(to_nats)
                report.published += len(to_nats)
                report.duplicates = publisher.duplicates
            if owed:
                report.enqueued += await asyncio.to_thread(queue.enqueue, owed)
            if progress is not None:
                report.seconds = time.perf_counter() - started
                progress(report)
    finally:
        if publisher is not None:
            await publisher.close()
    report.seconds = time.perf_counter() - started
    return report


class ProgressLine:
    """At most one line a second on stderr: where the replay is in its range, and how fast."""

    def __init__(self, every: float = 1.0) -> None:
        self.every, self.last = every, time.monotonic()

    def __call__(self, report: ReplayReport) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        print(progress_text(report), file=sys.stderr, flush=True)


def progress_text(report: ReplayReport) -> str:
    span = max(1, report.stop - report.start)
    done = min(span, max(0, (report.last or report.start) - report.start))
    return (f"replay {report.run_id}: {report.events:,} events, at position {report.last} of "
            f"{report.stop} ({100 * done / span:.0f}%), {report.rate:,.0f} events/s")


def options_from(args: argparse.Namespace) -> ReplayOptions:
    try:
        types = select_types(args.type or ())
    except ValueError as exc:
        raise ReplayError(f"--type: {exc}") from None
    return ReplayOptions(start=args.start, stop=args.stop, types=types, nats=args.nats,
                         webhook_id=args.webhook, dry_run=args.dry_run,
                         run_id=args.run_id or uuid4())


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The CLI command: prints a summary on stdout, a one-line reason on stderr on refusal."""
    try:
        options = options_from(args)
        options.check(settings.nats_url)
    except ReplayError as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        return 2
    # First, so that a run killed before its first progress line can still be repeated
    # without doubling what it sent: the run id makes the copies' and deliveries' ids.
    print(f"replay {options.run_id}: starting; if it is interrupted, run it again with "
          f"--run-id {options.run_id} (NATS drops the copies it has within its 2 h duplicate "
          "window, the webhook queue the deliveries it has)", file=sys.stderr, flush=True)
    services = build_services(settings)
    try:
        report = asyncio.run(replay(services, options, progress=ProgressLine()))
    except ReplayError as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        return 1
    finally:
        services.close()
    print(report.summary())
    return 0
