"""Deployment and runtime-log streams share one look at what they follow (entrypoints/http/
looks.py): with two admins on one database, streams opened on either and dropped at random, then
resumed with Last-Event-ID on either, get every log line and event once, whichever admin took
it; and idle streams cost one look a poll period between them, not reads of their own."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from entrypoints.http.looks import Looks, logs
from tests.e2e.test_events_api import counted
from tests.e2e.test_http_appaloft import Workflow
from tests.e2e.test_http_runtime_logs import deployed, line, ship
from tests.e2e.test_http_support import AUTH, running, services_of

pytestmark = pytest.mark.e2e
OTHER = "otheradmin01"


@contextmanager
def frames(client: TestClient, path: str, headers: dict[str, str],
           **params: Any) -> Iterator[Iterator[dict[str, str]]]:
    """A stream's frames as {field: value} (comments left out), closed on leaving; closed by a
    watchdog after 60 s should nothing come (the test then fails on what it lacks)."""
    with client.stream("GET", path, headers={**AUTH, **headers}, params=params) as response:
        assert response.status_code == 200, response.read()
        watchdog = threading.Timer(60, response.close)
        watchdog.start()

        def parsed() -> Iterator[dict[str, str]]:
            current: dict[str, str] = {}
            for text in response.iter_lines():
                if text and not text.startswith(":"):
                    name, _, value = text.partition(": ")
                    current[name] = value
                elif not text and current:
                    yield current
                    current = {}

        try:
            yield parsed()
        finally:
            watchdog.cancel()


def test_runtime_log_lines_reach_streams_on_both_admins_once(pg_url: str) -> None:
    """Lines shipped to either admin, read by streams that drop at random and resume on either
    admin with Last-Event-ID: each reader gets 1..N, no gap and no repeat."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    batches, per_batch = 30, 4
    total = batches * per_batch
    with running(pg_url) as one, running(pg_url, admin_id=OTHER) as other:
        admins = [one, other]
        flow, token, _, request_id = deployed(one)
        path = f"/resources/{flow.resource}/runtime-logs/stream"

        def write() -> None:
            for batch in range(batches):
                lines = [line(f"{batch}.{i}") for i in range(per_batch)]
                ship(admins[rng.randrange(2)], token, request_id, lines)
                threading.Event().wait(rng.random() * 0.05)

        def read(taken: list[int], chooser: random.Random) -> None:
            deadline = time.monotonic() + 60
            while len(taken) < total and time.monotonic() < deadline:
                headers = {"Last-Event-ID": str(taken[-1])} if taken else {}
                wanted = chooser.randint(1, 25)
                with frames(chooser.choice(admins), path, headers, cursor="0") as stream:
                    for found in stream:
                        taken.append(int(found["id"]))
                        wanted -= 1
                        if not wanted or len(taken) == total:
                            break

        readers = [[] for _ in range(4)]  # type: list[list[int]]
        threads = [threading.Thread(target=read, args=(r, random.Random(rng.random())))
                   for r in readers]
        for thread in threads:
            thread.start()
        write()
        for thread in threads:
            thread.join(90)
        for taken in readers:
            assert taken == list(range(1, total + 1)), f"seed {seed}"


def test_deployment_streams_get_each_event_once_and_every_progress_line(pg_url: str) -> None:
    """Progress lines and the ready report taken by either admin, streams dropped at random and
    resumed on either admin: the events come once each and in order across the resumes, and
    every progress line comes (a resumed stream sends again those after the event it resumes
    from, so a line may come twice across connections, never twice in one)."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    count = 30
    with running(pg_url) as one, running(pg_url, admin_id=OTHER) as other:
        admins = [one, other]
        flow = Workflow(one)
        flow.configure()
        _, token = flow.node()
        deployment = flow.deploy()
        request_id = flow.show(deployment)["deployment"]["requestId"]
        path = f"/deployments/{deployment}/events/stream"
        messages = [f"step {i}" for i in range(count)]

        def write() -> None:
            for message in messages:
                sent = admins[rng.randrange(2)].post(
                    f"/agent/v1/deployments/{request_id}/progress", headers=token,
                    json={"phase": "start", "message": message})
                assert sent.status_code == 200, sent.text
                threading.Event().wait(rng.random() * 0.05)
            flow.report(token, deployment, "ready")  # through admin one
            sent = other.post(f"/agent/v1/deployments/{request_id}/progress", headers=token,
                              json={"phase": "health", "message": "last"})
            assert sent.status_code == 200, sent.text

        def read(events: list[int], lines: set[str], chooser: random.Random) -> None:
            deadline = time.monotonic() + 60
            while ("last" not in lines or len(events) < 3) and time.monotonic() < deadline:
                headers = {"Last-Event-ID": str(events[-1])} if events else {}
                wanted, in_this = chooser.randint(1, 12), []
                with frames(chooser.choice(admins), path, headers) as stream:
                    for found in stream:
                        if "id" in found:
                            events.append(int(found["id"]))
                            wanted -= 1
                        else:
                            message = json.loads(found["data"])["progress"]["message"]
                            in_this.append(message)
                            wanted -= message not in lines  # those sent again do not count
                        if not wanted or ("last" in in_this and len(events) >= 3):
                            break
                assert len(in_this) == len(set(in_this)), f"seed {seed}: {in_this}"
                lines.update(in_this)

        readers = [([], set()) for _ in range(4)]  # type: list[tuple[list[int], set[str]]]
        threads = [threading.Thread(target=read, args=(*r, random.Random(rng.random())))
                   for r in readers]
        for thread in threads:
            thread.start()
        write()
        for thread in threads:
            thread.join(90)
        timeline = [e["event"]["sequence"] for e in one.get(
            f"/deployments/{deployment}/events", headers=AUTH).json()["envelopes"]]
        assert len(timeline) == 3
        for events, lines in readers:
            assert events == timeline, f"seed {seed}"
            assert lines == {*messages, "last"}, f"seed {seed}"


def test_idle_streams_share_one_look_and_see_the_other_admin_write(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each runtime-log stream read its deployment's lines four times a second (10 idle
    streams: 40 reads a second). Now they read nothing while nothing comes, one look a poll
    period serves them all, and a line the other admin took still reaches every one."""
    with running(pg_url) as one, running(pg_url, admin_id=OTHER) as other:
        svc = services_of(one)
        flow, token, _, request_id = deployed(one)
        path = f"/resources/{flow.resource}/runtime-logs/stream"
        reads = counted(monkeypatch, svc.runtime_logs.store, "read")
        got: list[str] = []

        def hold() -> None:
            with frames(one, path, {}) as stream:
                got.append(json.loads(next(stream)["data"])["message"])

        streams = [threading.Thread(target=hold) for _ in range(10)]
        for thread in streams:
            thread.start()
        while reads[0] < 2 * len(streams):  # each has read its page and where to follow from
            threading.Event().wait(0.05)
        threading.Event().wait(0.5)  # and its first look
        app: Any = one.app
        hub: Looks = app.state.looks
        idle_reads, idle_looks = reads[0], hub.looks
        threading.Event().wait(1.0)
        assert reads[0] == idle_reads
        assert 1 <= hub.looks - idle_looks <= 1.0 / hub.poll + 2
        ship(other, token, request_id, [line("elsewhere")])
        for thread in streams:
            thread.join(30)
        assert got == ["elsewhere"] * len(streams)


def test_looks_keep_nothing_of_deployments_nobody_follows() -> None:
    """Every runtime-log batch bumped its deployment's mark, followed or not, and the marks of
    deployments whose followers had left stayed: a process kept a mark for every deployment
    that ever shipped a line, for good."""
    with running() as client:
        _, token, _, request_id = deployed(client)
        for batch in range(3):
            ship(client, token, request_id, [line(f"unfollowed {batch}")])
        app: Any = client.app
        hub: Looks = app.state.looks

        async def follow_then_leave() -> None:
            keys = [logs(request_id)]
            with hub.following(keys) as woken:
                before = hub.marks(keys)
                hub.touched(logs(request_id))  # a batch taken while it follows
                await asyncio.wait_for(woken.wait(), 5)
                assert hub.marks(keys) != before

        asyncio.run(follow_then_leave())
        assert hub.held() == 0
