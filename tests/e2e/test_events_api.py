"""GET /api/v1/events (audit list from the store) and GET /api/v1/events/stream (SSE)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from adapters.event_log import event_log_for
from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from application.event_log import EventAudit, messages_after, topics_of
from entrypoints.bootstrap import Services
from entrypoints.http.events import EventStreams, parse_position
from entrypoints.http.wakeups import Wakeups
from tests.e2e.test_http_runtime_logs import deployed, ship
from tests.e2e.test_http_runtime_logs import line as log_line
from tests.e2e.test_http_support import (
    AUTH,
    MISSING,
    add_node,
    error,
    fixed_clock,
    page,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e
MESSAGE_FIELDS = {
    "id", "type", "schema_version", "source", "position", "occurred_at", "subject_id", "data",
}
REGISTERED, VERIFIED = "edge.node.registered", "edge.enrollment_key.verified"
CLUSTER_CHANGED = "edge.node.cluster_changed"
STREAM = "/api/v1/events/stream"


def events(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows, pagination, _ = pinned(client, **params)
    return rows, pagination


def pinned(client: TestClient, **params: Any
           ) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """(rows, pagination, meta.position__lte) of a page of the audit list."""
    response = client.get("/api/v1/events", headers=AUTH, params=params)
    rows, pagination = page(response)
    return rows, pagination, response.json()["meta"]["position__lte"]


def every_event(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    rows, _ = events(client, page_size=100, **params)
    return rows


def positions(rows: list[dict[str, Any]]) -> list[int]:
    return [r["position"] for r in rows]


# --- audit list -------------------------------------------------------------------------------
def test_lists_public_messages_in_position_order_with_pagination(any_url: str) -> None:
    with running(any_url) as client:
        nodes = [add_node(client) for _ in range(3)]
        rows, meta = events(client, page_size=4)
        assert meta == {"page": 1, "page_size": 4, "total_count": 6, "total_pages": 2,
                        "has_next": True, "next_page": 2, "has_prev": False, "prev_page": None}
        assert all(set(r) == MESSAGE_FIELDS for r in rows)
        assert [r["type"] for r in rows] == [VERIFIED, REGISTERED] * 2
        assert rows[1]["subject_id"] == nodes[0] and rows[1]["data"]["node_id"] == nodes[0]
        rest, meta = events(client, page_size=4, page=2)
        assert len(rest) == 2 and meta["has_next"] is False and meta["prev_page"] == 1
        ordered = positions(rows + rest)
        assert ordered == sorted(ordered) and len(set(ordered)) == 6
        newest_first, _ = events(client, order_by="position", order_directions="desc")
        assert positions(newest_first) == ordered[::-1]
        beyond, meta = events(client, page=9, page_size=4)
        assert beyond == [] and meta["total_count"] == 6 and meta["next_page"] is None


def test_newest_first_pages_hold_still_while_events_are_written(any_url: str) -> None:
    """Newest first, page 2 was an offset from the newest end: each event written between the
    requests moved every row one place on, and page 2 repeated page 1's oldest rows. Each page
    names the newest position it covers; following pages pinned to it hold the same events."""
    with running(any_url) as client:
        for _ in range(3):
            add_node(client)
        desc = {"order_by": "position", "order_directions": "desc", "page_size": 2}
        first, meta, pin = pinned(client, **desc)
        every = every_event(client)
        assert pin == first[0]["position"] == every[-1]["position"]
        taken = positions(first)
        while meta["next_page"] is not None:
            add_node(client)  # two more events, newer than the pin
            rows, meta, again = pinned(client, **desc, page=meta["next_page"], position__lte=pin)
            assert again == pin and meta["total_count"] == len(every)
            taken += positions(rows)
        assert taken == positions(every)[::-1]
        # Unpinned, the same walk repeats rows: the reason for the pin.
        second, _ = events(client, **desc, page=2)
        add_node(client)
        third, _ = events(client, **desc, page=3)
        assert set(positions(second)) & set(positions(third))
        # A pin past the end is the end; one below the first event covers nothing.
        head = every_event(client, order_by="position", order_directions="desc")[0]["position"]
        assert pinned(client, position__lte=2**63 - 1)[2] == head
        for low in (0, -1, -(2**63)):
            rows, meta, pin = pinned(client, position__lte=low)
            assert (rows, meta["total_count"], pin) == ([], 0, 0)


def test_filters_by_type_position_and_subject(any_url: str) -> None:
    with running(any_url) as client:
        nodes = [add_node(client) for _ in range(3)]
        everything = every_event(client)
        registered = [r for r in everything if r["type"] == REGISTERED]
        assert positions(every_event(client, type=REGISTERED)) == positions(registered)
        both = client.get("/api/v1/events", headers=AUTH,
                          params=[("type", REGISTERED), ("type", VERIFIED)])
        assert positions(page(both)[0]) == positions(everything)
        assert len(every_event(client, type=f"{REGISTERED},{VERIFIED}")) == 6
        assert every_event(client, type="edge.command_execution.created") == []
        second = everything[2]["position"]
        assert positions(every_event(client, position__gt=second)) == positions(everything[3:])
        assert positions(every_event(client, position__gte=second)) == positions(everything[2:])
        assert positions(every_event(client, position__lte=second)) == positions(everything[:3])
        window = every_event(client, position__gte=second, position__lte=second, type=VERIFIED)
        assert positions(window) == [second]
        own = every_event(client, subject_id=nodes[1])
        assert [r["type"] for r in own] == [REGISTERED] and own[0]["subject_id"] == nodes[1]
        assert every_event(client, subject_id=MISSING) == []


def test_occurred_at_filters_use_dates_and_count_exactly(any_url: str) -> None:
    clock = fixed_clock()  # 2026-01-01T12:00Z
    with running(any_url, clock=clock) as client:
        early = add_node(client)
        clock.advance(timedelta(days=2).total_seconds())
        late = [add_node(client), add_node(client)]
        rows, meta = events(client, occurred_at__gte="2026-01-03", page_size=2, page=2)
        assert meta["total_count"] == 4 and meta["total_pages"] == 2
        assert [r["subject_id"] for r in rows if r["type"] == REGISTERED] == [late[1]]
        first_day = every_event(client, occurred_at__lte="2026-01-01")
        assert {r["subject_id"] for r in first_day if r["type"] == REGISTERED} == {early}
        assert every_event(client, occurred_at__lte="2026-01-01T11:59:59Z") == []
        newest, meta = events(client, occurred_at__gte="2026-01-03T12:00:00Z", type=REGISTERED,
                              order_by="position", order_directions="desc", page_size=1)
        assert meta["total_count"] == 2 and newest[0]["subject_id"] == late[1]


def test_time_filter_refuses_a_scan_beyond_the_limit() -> None:
    with running() as client:
        for _ in range(3):
            add_node(client)
        store = services_of(client).store
        services_of(client).event_audit = EventAudit(event_log_for(store.recorder),
                                                      store.mapper, max_scan=5)
        details = error(client.get("/api/v1/events", headers=AUTH,
                                   params={"occurred_at__gte": "2026-01-01"}), 400, "bad_request",
                        {"occurred_at"})
        assert "position__gte" in details["occurred_at"][0]
        narrowed = every_event(client, occurred_at__gte="2000-01-01", type=REGISTERED)
        assert len(narrowed) == 3
        assert len(every_event(client)) == 6  # column filters alone never scan


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "edge.nope"}, "type"),
        ({"type": f"{REGISTERED},edge.nope"}, "type"),
        ({"type": ""}, "type"),
        ({"position__gt": "x"}, "position__gt"),
        ({"position__lte": "1.5"}, "position__lte"),
        ({"occurred_at__gte": "yesterday"}, "occurred_at__gte"),
        ({"subject_id": "nope"}, "subject_id"),
        ({"order_by": "type"}, "order_by"),
        ({"order_directions": "desc"}, "order_directions"),  # house rule: needs order_by
        ({"cluster_name": "main"}, "cluster_name"),
        ({"page_size": "101"}, "page_size"),
        # int() reads these as 12, 3 and 1000; the deployment streams' cursors refuse them
        ({"position__gt": "\uff11\uff12"}, "position__gt"),
        ({"position__lte": "\u0663"}, "position__lte"),
        ({"position__gte": "1_000"}, "position__gte"),
        ({"page": "\u0663"}, "page"),
        ({"page_size": "1_0"}, "page_size"),
    ],
)
def test_bad_parameters_are_400(params: dict[str, str], field: str) -> None:
    with running() as client:
        error(client.get("/api/v1/events", headers=AUTH, params=params), 400, "bad_request",
              {field})


def test_repeated_type_reports_the_unknown_one_with_other_errors() -> None:
    with running() as client:
        response = client.get("/api/v1/events", headers=AUTH,
                              params=[("type", "edge.nope"), ("type", REGISTERED), ("page", "0")])
        details = error(response, 400, "bad_request", {"type", "page"})
        assert "edge.nope" in details["type"][0]


def test_events_need_the_api_key() -> None:
    with running() as client:
        error(client.get("/api/v1/events"), 401, "unauthorized")
        error(client.get(STREAM), 401, "unauthorized")


# --- Server-Sent Events -----------------------------------------------------------------------
class SseReader:
    """Parses an SSE response; every read has a deadline, checked on each line or heartbeat."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.comments: list[str] = []

    def take(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        current: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line:
                name, _, value = line.partition(": ")
                current[name] = value
            elif current:
                found.append({"id": int(current["id"]), "event": current["event"],
                              "data": current["data"]})
                current = {}
            if len(found) == count:
                return found
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events arrived"
        raise AssertionError(f"stream ended after {len(found)} of {count} events")

    def heartbeat(self, timeout: float = 10.0) -> None:
        """Waits for the next heartbeat; any event before it fails the test."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line == ": heartbeat":
                return
            assert not line, f"unexpected {line!r}"
            assert time.monotonic() < deadline, "no heartbeat"
        raise AssertionError("stream ended")


def quick_heartbeats(client: TestClient) -> None:
    """Heartbeats every 0.1 s, so readers check their deadline at least that often."""
    app: Any = client.app
    app.state.event_streams = EventStreams(services_of(client), heartbeat=0.1)


@contextmanager
def sse(client: TestClient, headers: dict[str, str] | None = None,
        **params: Any) -> Iterator[SseReader]:
    with client.stream("GET", STREAM, headers={**AUTH, **(headers or {})},
                       params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        # Last resort should the server stop sending even heartbeats: end the response.
        watchdog = threading.Timer(60, response.close)
        watchdog.start()
        try:
            yield SseReader(response.iter_lines())
        finally:
            watchdog.cancel()


def as_stream(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(r["position"], r["type"]) for r in rows]


def received(found: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(e["id"], e["event"]) for e in found]


def test_stream_sends_events_committed_after_connecting(any_url: str) -> None:
    with running(any_url) as client:
        quick_heartbeats(client)
        add_node(client)
        before = every_event(client)
        with sse(client) as stream:
            stream.heartbeat()  # connected and idle: nothing older than the connection
            node = add_node(client)
            found = stream.take(2)
        after = every_event(client, position__gt=before[-1]["position"])
        assert received(found) == as_stream(after)
        assert [e["event"] for e in found] == [VERIFIED, REGISTERED]
        assert f'"subject_id":"{node}"' in found[1]["data"] and f'"position":{found[1]["id"]}' in (
            found[1]["data"]
        )


def test_reconnecting_with_last_event_id_resumes_exactly(any_url: str) -> None:
    with running(any_url) as client:
        quick_heartbeats(client)
        for _ in range(3):
            add_node(client)
        history = as_stream(every_event(client))
        with sse(client, from_position=history[0][0]) as stream:
            first = received(stream.take(3))
        assert first == history[:3]
        add_node(client)
        history = as_stream(every_event(client))
        with sse(client, headers={"Last-Event-ID": str(first[-1][0])}, from_position=1) as stream:
            rest = received(stream.take(len(history) - 3))
            add_node(client)
            rest += received(stream.take(2))
        assert first + rest == as_stream(every_event(client))
        with sse(client, last_event_id=rest[-2][0]) as stream:
            assert received(stream.take(1)) == rest[-1:]


def test_a_blank_last_event_id_is_no_header() -> None:
    """An empty Last-Event-ID (a proxy passing one on; EventSource never sends it) was a 400:
    it names no event, so the stream starts as without the header (here from from_position)."""
    with running() as client:
        quick_heartbeats(client)
        add_node(client)
        history = as_stream(every_event(client))
        for blank in ("", "  ", "\t"):
            with sse(client, headers={"Last-Event-ID": blank}, from_position=1) as stream:
                assert received(stream.take(len(history))) == history


def test_stream_filters_by_type() -> None:
    with running() as client:
        quick_heartbeats(client)
        nodes = [add_node(client) for _ in range(2)]
        with sse(client, type=REGISTERED, last_event_id=0) as stream:
            found = stream.take(2)
            nodes.append(add_node(client))
            found += stream.take(1)
        assert {e["event"] for e in found} == {REGISTERED}
        assert all(f'"subject_id":"{n}"' in e["data"] for n, e in zip(nodes, found, strict=True))
        assert received(found) == as_stream(every_event(client, type=REGISTERED))


def test_a_filtered_read_moves_past_the_events_it_skipped(services: Services) -> None:
    # A stream of a rare type stayed at its last match and read every later event again at
    # each wake-up: with a million events since, a scan of them per commit and stream.
    services.clusters.create(CreateCluster(name="main"))
    key_id = services.enrollment_keys.issue("main", IssueEnrollmentKey(uses_remaining=None))
    key = services.view.get("enrollment_keys", key_id)
    assert key is not None
    for _ in range(2):
        services.nodes.enroll(EnrollNode(enrollment_key=key["key"]))
    head = services.store.recorder.max_notification_id() or 0
    nothing, end = messages_after(services.store, 0, topics_of((CLUSTER_CHANGED,)), 500)
    assert (nothing, end) == ([], head)
    verified, end = messages_after(services.store, 0, topics_of((VERIFIED,)), 500)
    assert len(verified) == 2 and end == head > verified[-1].position
    first, end = messages_after(services.store, 0, topics_of((VERIFIED,)), 1)
    assert end == first[0].position  # a full page: more may follow it


def test_stream_under_concurrent_writes_has_no_gap_and_no_repeat() -> None:
    with running() as client:
        quick_heartbeats(client)
        start = max([0, *positions(every_event(client))])
        writer = threading.Thread(target=lambda: [add_node(client) for _ in range(8)])
        with sse(client, last_event_id=start) as stream:
            writer.start()
            found = stream.take(16)
            writer.join()
        assert received(found) == as_stream(every_event(client, position__gt=start))


def test_idle_stream_sends_heartbeats_and_disconnecting_releases_it() -> None:
    with running() as client:
        quick_heartbeats(client)
        app: Any = client.app
        hub: EventStreams = app.state.event_streams
        with sse(client) as stream:
            stream.heartbeat()
            stream.heartbeat()
            assert hub.open_streams == 1
        deadline = time.monotonic() + 5
        while hub.open_streams and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hub.open_streams == 0


def counted(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[int]:
    """Counts the calls of target.name (a library object's method, still called)."""
    calls = [0]
    method = getattr(target, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return method(*args, **kwargs)

    monkeypatch.setattr(target, name, counting)
    return calls


def test_open_streams_share_one_look_at_the_store_and_see_another_process_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each stream polled the store itself, four times a second: 400 idle streams cost 37% of
    a core. Now one look a poll period serves them all, and still finds what a process that
    does not wake them (another admin on the same database) committed."""
    with running(sqlite_url) as one, running(sqlite_url, admin_id="otheradmin01") as other:
        hub = EventStreams(services_of(one), heartbeat=60, poll=0.05)
        recorder = hub.store.recorder
        start = recorder.max_notification_id() or 0
        reads = counted(monkeypatch, recorder, "select_notifications")

        async def follow(stopping: asyncio.Event) -> bytes:
            seen = b""
            async for chunk in hub.frames(start, topics_of(()), stopping):
                seen += chunk
                if REGISTERED.encode() in seen:
                    break
            return seen

        async def watch() -> tuple[int, int, list[bytes]]:
            stopping = asyncio.Event()
            streams = [asyncio.create_task(follow(stopping)) for _ in range(20)]
            await asyncio.sleep(1.0)  # idle: about 20 looks for all 20 streams, not 400
            idle_looks, idle_reads = hub.looks, reads[0]
            node = await asyncio.to_thread(add_node, other)
            seen = await asyncio.wait_for(asyncio.gather(*streams), 10)
            return idle_looks, idle_reads, [s for s in seen if node.encode() in s]

        idle_looks, idle_reads, saw_it = asyncio.run(watch())
        assert 1 <= idle_looks <= 1.0 / 0.05 + 5
        # Each stream's first read, and one a commit the idle second saw (the admins' starts
        # commit late); before, one a poll period: 20 a stream.
        assert idle_reads <= 3 * 20
        assert len(saw_it) == 20


@pytest.mark.parametrize("raw", ["1_000", "\uff11\uff12", "\u0663", "\u00b2", "0x1"])
def test_stream_positions_are_ascii_digits(raw: str) -> None:
    # Read directly: a stream that accepted one would stay open, not answer 400.
    with pytest.raises(ValueError, match="must be an integer"):
        parse_position(raw)


def test_runtime_log_lines_do_not_pass_for_store_positions() -> None:
    """An agent's log batch woke the streams with its last line's sequence as if it were a
    store position: the shared head jumped past the log, and every stream then read nothing
    until the store grew that far (here: the node registered after 600 log lines never came).
    """
    with running() as client:
        _, token, _, request_id = deployed(client)
        app: Starlette = client.app  # type: ignore[assignment]
        app.state.wakeups = wake = Wakeups(services_of(client))  # the app's, that routes wake
        for batch in range(2):
            ship(client, token, request_id, [log_line(f"{batch}-{i}") for i in range(300)])
        hub = EventStreams(services_of(client), heartbeat=60, poll=0.05, wake=wake)
        start = hub.store.recorder.max_notification_id() or 0

        async def follow(stopping: asyncio.Event) -> bytes:
            seen = b""
            async for chunk in hub.frames(start, topics_of(()), stopping):
                seen += chunk
                if REGISTERED.encode() in seen:
                    break
            return seen

        async def watch() -> bytes:
            stopping = asyncio.Event()
            stream = asyncio.create_task(follow(stopping))
            await asyncio.sleep(0.3)  # it has read what there is, and waits
            await asyncio.to_thread(add_node, client)
            try:
                return await asyncio.wait_for(stream, 5)
            except TimeoutError:
                return b""

        assert REGISTERED.encode() in asyncio.run(watch())


@pytest.mark.parametrize(
    ("headers", "params", "field"),
    [
        ({"Last-Event-ID": "abc"}, {}, "Last-Event-ID"),
        ({}, {"last_event_id": "-3"}, "last_event_id"),
        ({}, {"from_position": "x"}, "from_position"),
        ({}, {"type": "edge.nope"}, "type"),
        ({}, {"page": "1"}, "page"),
    ],
)
def test_stream_bad_parameters_are_400(
    headers: dict[str, str], params: dict[str, str], field: str
) -> None:
    with running() as client:
        response = client.get(STREAM, headers={**AUTH, **headers}, params=params)
        error(response, 400, "bad_request", {field})


def test_resuming_past_the_end_of_the_log_is_a_409_not_silence(any_url: str) -> None:
    """A Last-Event-ID past the log's end (a database restored from an earlier backup) left the
    stream silent until the log grew past it: the events in between never came, and nothing
    said so. The end itself is a resume with nothing missed; from_position may name the next
    event on."""
    with running(any_url) as client:
        add_node(client)
        head = every_event(client)[-1]["position"]
        for headers, params, field in (({"Last-Event-ID": str(head + 1)}, {}, "Last-Event-ID"),
                                       ({}, {"last_event_id": str(2**63 - 1)}, "last_event_id")):
            with client.stream("GET", STREAM, headers={**AUTH, **headers},
                               params=params) as response:  # a 200 would stream for good
                assert response.status_code == 409, response.headers
                response.read()
            error(response, 409, "conflict", {field})
            assert response.json()["error"]["message"] == (
                f"{field} is past the end of the event log")
        with sse(client, headers={"Last-Event-ID": str(head)}) as stream:
            node = add_node(client)
            assert f'"subject_id":"{node}"' in "".join(e["data"] for e in stream.take(2))
        head = every_event(client)[-1]["position"]
        with sse(client, from_position=head + 1) as stream:
            node = add_node(client)
            assert f'"subject_id":"{node}"' in "".join(e["data"] for e in stream.take(2))
