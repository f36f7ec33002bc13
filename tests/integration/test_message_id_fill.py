"""The first start of this release on a database of the release before: the message ids of the
events already stored are filled in in the background, not before serving (a liveness probe
killed a start that filled ten million first). `edge-admin serve` answers /healthz, writes and
lookups at once; a lookup finds an event the filling has not reached; kill -9 in the middle of
the filling loses nothing and the next start completes it, with no entry twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from adapters.event_message_ids import FILL, TABLE
from application.event_log import MAX_SCAN, SCAN_CHUNK, QueryTooBroadError
from domain.catalog import message_id
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.message_id_fill import fill_once, run_message_id_fill
from tests.conftest import make_settings
from tests.e2e.agent_fixtures import Children, eventually, free_port
from tests.integration.test_event_message_ids import _saves, _sql, expected, relay

pytestmark = pytest.mark.integration
API_KEY = "message-id-fill-api-key-0123"
EVENTS = 300  # public events in the log before the upgrade
SLOW_FILL = {"MESSAGE_ID_FILL_CHUNK": "10", "MESSAGE_ID_FILL_PAUSE_SECONDS": "0.5"}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    kids = Children(tmp_path / "logs")
    yield kids
    kids.close()


def release_before(url: str, events: int = EVENTS) -> tuple[dict[uuid.UUID, int], int]:
    """A database as the release before left it: events published by its relay (its position
    recorded) and no index of their ids; what the index should hold once filled, and the
    log's last position."""
    services = build_services(make_settings(url))
    try:
        for aggregates in _saves([(100, 2)] * (events // 100)):
            services.store.save(*aggregates)
        relay(services)
        forget_the_index(services)
        return expected(services), services.store.recorder.max_notification_id() or 0
    finally:
        services.close()


def forget_the_index(services: Services) -> None:
    _sql(services, f"DELETE FROM {TABLE}")
    _sql(services, f"DELETE FROM {FILL}")


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Straight from the database, beside the processes under test (building Services here
    would start a process of its own on it)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(statement).fetchall()
    base, schema = url.split("?schema=")
    with psycopg.connect(base, options=f"-csearch_path={schema}") as conn:
        return conn.execute(statement).fetchall()


def progress(url: str) -> tuple[int, int]:
    """(through, until) of the filling; (0, 0) before a start of this release."""
    rows = query(url, f"SELECT through, until FROM {FILL}")
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def index_of(url: str, through: int) -> dict[uuid.UUID, int]:
    """The index's entries up to `through` (a serving admin writes events too, and its relay
    records their ids)."""
    rows = query(url, f"SELECT message_id, position FROM {TABLE}")
    return {m if isinstance(m, uuid.UUID) else uuid.UUID(m): p for m, p in rows if p <= through}


class Serving:
    """`edge-admin serve` on `url` (the in-process bus: no NATS needed)."""

    def __init__(self, children: Children, url: str, name: str, **env: str) -> None:
        self.children, self.name, port = children, name, free_port()
        argv = ["edge-admin", "serve", "--host", "127.0.0.1", "--port", str(port)]
        self.proc = children.spawn(name, argv, {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
            "DATABASE_URL": url, "API_KEY": API_KEY, "ENCRYPTION_KEY": "fill-key",
            "LOG_FORMAT": "text", **env})
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                                 headers={"authorization": f"Bearer {API_KEY}"})

    def answer(self, path: str) -> int | None:
        assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}"
        try:
            return self.http.get(path).status_code
        except httpx.TransportError:
            return None

    def close(self) -> None:
        self.http.close()


def test_a_first_start_serves_before_the_ids_of_older_events_are_filled_in(
    url: str, children: Children
) -> None:
    everything, head = release_before(url)
    admin = Serving(children, url, "admin", **SLOW_FILL)
    try:
        eventually(lambda: admin.answer("/healthz") == 200, "/healthz", children)
        through, until = progress(url)
        assert through < until == head
        eventually(lambda: admin.answer("/readyz") == 200, "/readyz", children)
        created = admin.http.post("/api/v1/clusters", json={"name": "during-fill"})
        assert created.status_code == 201, created.text
        newest = max(everything, key=everything.__getitem__)  # the last the filling reaches
        shown = admin.http.get(f"/audit-events/{newest}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["event"]["auditEventId"] == str(newest)
        assert progress(url)[0] < until  # all of it while the filling was under way
        assert admin.http.get(f"/audit-events/{message_id(uuid.uuid4(), 1)}").status_code == 404
    finally:
        admin.close()


def test_a_lookup_finds_an_event_the_filling_has_not_reached(url: str) -> None:
    everything, head = release_before(url, SCAN_CHUNK + 100)
    services = build_services(make_settings(url))
    try:
        # As at a start whose background filling has not begun: nothing of the index.
        forget_the_index(services)
        _sql(services, f"INSERT INTO {FILL} (through, until) VALUES (0, ?)", (head,))
        assert services.relay.recorded_position() == head
        audit = services.event_audit
        for public, position in list(everything.items())[::37]:
            found = audit.find(public)
            assert found is not None and found.position == position
        assert audit.find(message_id(uuid.uuid4(), 1)) is None
        # The hashing stays bounded: past max_scan events a lookup without its aggregate is
        # refused (a 400 naming aggregateId), with it found.
        audit.max_scan = SCAN_CHUNK
        far = max(everything, key=everything.__getitem__)
        with pytest.raises(QueryTooBroadError, match="aggregateId"):
            audit.find(far)
        assert audit.find(far, _subject_of(services, everything[far])) is not None
        audit.max_scan = MAX_SCAN
        # Half filled: the rest is hashed still; so is an event written since.
        half = head // 2
        postgres = url.startswith("postgres")
        for public, position in everything.items():
            if position <= half:
                _sql(services, f"INSERT INTO {TABLE} (message_id, position) VALUES (?, ?)",
                     (public if postgres else public.hex, position))
        _sql(services, f"UPDATE {FILL} SET through = ?", (half,))
        [late] = next(_saves([(1, 0)]))
        services.store.save(late)
        for public in (min(everything, key=everything.__getitem__),
                       max(everything, key=everything.__getitem__), message_id(late.id, 1)):
            assert audit.find(public) is not None
    finally:
        services.close()


def _subject_of(services: Services, position: int) -> uuid.UUID:
    [notification] = services.store.recorder.select_notifications(start=position, limit=1)
    originator: Any = notification.originator_id
    return originator if isinstance(originator, uuid.UUID) else uuid.UUID(originator)


def test_a_start_killed_in_the_middle_of_the_filling_is_completed_by_the_next(
    url: str, children: Children
) -> None:
    everything, head = release_before(url)
    killed = Serving(children, url, "killed", **SLOW_FILL)
    eventually(lambda: 0 < progress(url)[0] < head, "half a filling", children)
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(10)
    killed.close()
    through = progress(url)[0]
    assert 0 < through < head
    assert index_of(url, head) == {m: p for m, p in everything.items() if p <= through}
    again = Serving(children, url, "again")
    eventually(lambda: progress(url) == (head, head), "a whole filling", children)
    again.close()
    assert index_of(url, head) == everything
    assert query(url, f"SELECT count(*), count(DISTINCT position) FROM {TABLE}") == [
        (len(everything), len(everything))]


def test_one_process_fills_the_others_wait_for_it(url: str) -> None:
    """Several admins on one database: the holder of the fill lock fills; the others look
    again later (it may die) and stop once it is done."""
    _, head = release_before(url)
    first = build_services(make_settings(url, message_id_fill_chunk=100))
    second = build_services(make_settings(url, message_id_fill_chunk=100))
    try:
        assert fill_once(first) == head - 100
        assert fill_once(second) is None
        while fill_once(first):
            pass
        assert fill_once(second) == 0
        assert first.message_id_fill is not None and first.message_id_fill.positions == head
        assert second.message_id_fill is not None and second.message_id_fill.positions == 0
        # Done, the first let the lock go: the second takes it (and would find nothing to do).
        assert second.fill_lock is not None and second.fill_lock.held()
    finally:
        second.close()
        first.close()


def test_a_filling_whose_first_look_fails_tries_again(url: str) -> None:
    """The database fails the worker's very first look at the progress (here: its table is
    away for a moment): the worker says so, looks again after a pause and fills everything,
    instead of ending for good with the error."""
    everything, head = release_before(url)
    services = build_services(make_settings(url, scheduler_interval=0.05))
    try:
        _sql(services, f"ALTER TABLE {FILL} RENAME TO {FILL}_away")

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(run_message_id_fill(services, stop))
            await asyncio.sleep(0.3)
            assert not task.done(), "the worker ended on the failure"
            _sql(services, f"ALTER TABLE {FILL}_away RENAME TO {FILL}")
            await asyncio.wait_for(task, 30)  # done: it returns once everything is filled

        asyncio.run(run())
        assert progress(url) == (head, head)
        assert index_of(url, head) == everything
    finally:
        services.close()
