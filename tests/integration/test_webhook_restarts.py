"""Kill-and-restart: `edge-admin webhooks work` and `edge-admin relay run` as real processes,
SIGKILLed mid-stream. Nothing is lost, the stream holds every public event once and in store
order, and a webhook-id never comes with a different body."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from application.deliveries import RetryPolicy
from application.relay import PUBLIC_TOPICS
from application.webhooks import CreateWebhook, delivery_id
from entrypoints.bootstrap import Services, build_services
from tests.conftest import API_KEY, make_settings
from tests.integration.webhook_harness import (
    SECRET,
    Background,
    Receiver,
    eventually,
    last_stream_position,
    loops_closed,
    nats_settings,
    stream_positions,
    write_registrations,
)

pytestmark = pytest.mark.integration
__all__ = ["loops_closed", "nats_settings"]  # fixtures, used by name
ROOT = Path(__file__).resolve().parents[2]


def process_env(pg_url: str, nats: dict[str, Any]) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": pg_url, "API_KEY": API_KEY,
            "MASTER_KEY": "test-master-key-xyz",  # same at-rest key as make_settings
            "NATS_URL": nats["nats_url"], "NATS_STREAM": nats["nats_stream"],
            "NATS_SUBJECT_PREFIX": nats["nats_subject_prefix"],
            "WEBHOOK_ALLOW_PRIVATE_IPS": "true", "WEBHOOK_TIMEOUT_SECONDS": "2"}


class Processes:
    """`edge-admin` child processes, all reaped at the end."""

    def __init__(self, env: dict[str, str], log: IO[bytes]) -> None:
        self.env, self.log = env, log
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", *args], cwd=ROOT,
                                 env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


@pytest.fixture
def processes(
    pg_url: str, nats_settings: dict[str, Any], tmp_path: Path
) -> Iterator[Processes]:
    with open(tmp_path / "children.log", "wb") as log:
        procs = Processes(process_env(pg_url, nats_settings), log)
        try:
            yield procs
        finally:
            procs.close()
    print((tmp_path / "children.log").read_text()[-4000:])  # shown by pytest on failure


def test_worker_sigkilled_mid_stream_loses_nothing(
    pg_url: str, nats_settings: dict[str, Any], processes: Processes
) -> None:
    services = build_services(make_settings(pg_url, **nats_settings))
    services.start()
    assert services.deliverer is not None
    services.deliverer.policy = RetryPolicy(base_delay=0.2)
    total = 400
    with Receiver(delay=0.005).running() as receiver:
        try:
            webhook = services.webhooks.create(CreateWebhook(
                url=receiver.url("/ok"), secret=SECRET, subscribed_events=["edge.node.registered"]
            ))
            with Background(services, worker=False):  # this process relays and projects
                worker = processes.spawn("webhooks", "work")
                write_registrations(services, total // 2)
                eventually(lambda: len(receiver.at("/ok")) >= 30, 60, "the worker to deliver")
                worker.kill()  # SIGKILL: no cleanup, leases held, a batch maybe unacknowledged
                worker.wait(10)
                at_kill = len(receiver.at("/ok"))
                write_registrations(services, total - total // 2)
                for _ in range(2):  # two workers share the durable consumer and the queue
                    processes.spawn("webhooks", "work")
                eventually(lambda: _settled(services, webhook) == total, 120, "every delivery")
            _check_deliveries(services, receiver, webhook, total)
            assert 0 < at_kill < total
        finally:
            services.close()


def _settled(services: Services, webhook: Any) -> int:
    assert services.deliveries is not None
    return services.deliveries.counts(webhook)["succeeded"]


def _check_deliveries(services: Services, receiver: Receiver, webhook: Any, total: int) -> None:
    messages, _ = services.relay.read_batch(0)
    owed = {str(delivery_id(webhook, m.id)) for m in messages if m.type == "edge.node.registered"}
    got = receiver.at("/ok")
    bodies: dict[str, set[bytes]] = {}
    for request in got:
        bodies.setdefault(request.headers["webhook-id"], set()).add(request.body)
    assert len(owed) == total
    assert set(bodies) == owed  # every delivery arrived, nothing else did
    differing = {k: v for k, v in bodies.items() if len(v) > 1}
    assert not differing  # a webhook-id always has the same bytes
    assert all(r.standard_ok and r.edge_ok for r in got)
    assert services.deliveries is not None
    assert services.deliveries.counts(webhook) == {"pending": 0, "succeeded": total, "failed": 0}
    print(f"worker restart: {len(got)} requests for {total} deliveries "
          f"({len(got) - total} duplicates from expired leases)")


def _until_published_past(stream: str, position: int | None, writer: threading.Thread) -> None:
    deadline = time.monotonic() + 20
    while writer.is_alive() and time.monotonic() < deadline:
        if (last_stream_position(stream) or 0) > (position or 0):
            return
        time.sleep(0.05)


def test_relay_sigkilled_at_random_moments_publishes_each_event_once_in_order(
    pg_url: str, nats_settings: dict[str, Any], processes: Processes
) -> None:
    services = build_services(make_settings(pg_url, run_projections=False, **nats_settings))
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    enough_kills = threading.Event()
    writer = threading.Thread(target=_write_slowly, args=(services, 60, 25, enough_kills))
    kills = 0
    try:
        relay = processes.spawn("relay", "run")
        writer.start()
        progress: list[int | None] = []
        while writer.is_alive():
            # Kill only once this relay has published something (a loaded machine can take
            # longer to start one than any fixed delay), then at a random later moment.
            before = progress[-1] if progress else None
            _until_published_past(nats_settings["nats_stream"], before, writer)
            time.sleep(rng.uniform(0.0, 0.6))
            relay.kill()
            relay.wait(10)
            kills += 1
            if kills >= 3:
                enough_kills.set()
            progress.append(last_stream_position(nats_settings["nats_stream"]))
            relay = processes.spawn("relay", "run")
        writer.join()
        expected = [n.id for n in services.store.recorder.select_notifications(
            start=0, limit=1_000_000, topics=PUBLIC_TOPICS)]
        eventually(lambda: last_stream_position(nats_settings["nats_stream"]) == expected[-1], 60,
                   f"the relay to catch up (seed {seed})")
        relay.terminate()
        relay.wait(30)
        positions = stream_positions(nats_settings["nats_stream"])
        print(f"relay killed {kills} times; stream position at each kill: {progress}")
        assert kills >= 3
        assert len({p for p in progress if p}) >= 2  # killed while making progress, repeatedly
        # registered + status_changed per node, for 60 batches of 25 or more: the writer goes
        # on until the third kill, which a loaded machine makes later
        assert len(expected) >= 60 * 25 * 2 and len(expected) % (25 * 2) == 0
        assert positions == expected, f"seed {seed}"
    finally:
        if writer.ident is not None:
            writer.join()
        services.close()


def _write_slowly(services: Services, batches: int, size: int,
                  until: threading.Event | None = None) -> None:
    """`batches` batches at least, and on until `until` is set (a loaded machine starts relay
    processes slowly: the kills the test needs must find writes still going on)."""
    written = 0
    while written < batches or (until is not None and not until.is_set()):
        write_registrations(services, size, batch=size)
        written += 1
        time.sleep(0.1)

