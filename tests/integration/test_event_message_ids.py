"""The index of catalog message ids (adapters/event_message_ids.py): the relay records the ids of
what it publishes with its position, never the save; a lookup finds an event the relay has not
recorded yet by hashing the few past its position; a second admin, whose relay stands by, finds
events all the same; the events saved before the index existed are filled in, a chunk at a time
and resumably (in the background: tests/integration/test_message_id_fill.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.event_message_ids import FILL, TABLE, MessageIdFill, id_of
from adapters.pg_recorder import SMALL_SAVE
from application.event_log import SCAN_CHUNK, QueryTooBroadError
from domain.catalog import message_id
from domain.claims import NameClaim
from domain.project import Project
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def services(url: str) -> Iterator[Services]:
    built = build_services(make_settings(url))
    try:
        yield built
    finally:
        built.close()


def _sql(services: Services, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    recorder: Any = services.store.recorder
    if hasattr(recorder.datastore, "schema"):  # PostgreSQL: our tables are in its schema
        with recorder.datastore.transaction(commit=True) as curs:
            curs.execute(f'SET LOCAL search_path TO "{recorder.datastore.schema}"')
            curs.execute(statement.replace("?", "%s"), params)
            return [tuple(r.values()) for r in curs.fetchall()] if curs.description else []
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(statement, params)
        return [tuple(r) for r in c.fetchall()]


def indexed(services: Services) -> dict[UUID, int]:
    rows = _sql(services, f"SELECT message_id, position FROM {TABLE}")
    return {m if isinstance(m, UUID) else UUID(m): p for m, p in rows}


def expected(services: Services, through: int | None = None) -> dict[UUID, int]:
    """What the index should hold: every public event of the log (up to `through`), by id."""
    found = {}
    for n in services.store.recorder.select_notifications(start=1, limit=1_000_000,
                                                          stop=through):
        public = id_of(n.originator_id, n.originator_version, n.topic)
        if public is not None:
            found[public] = n.id
    return found


def relay(services: Services) -> None:
    """Publishes everything recorded so far (in-process bus) and records how far."""
    asyncio.run(services.relay.drain(asyncio.Event()))
    asyncio.run(services.relay.record())


def _saves(sizes: list[tuple[int, int]]) -> Iterator[list[Any]]:
    """Saves of `public` projects (edge.project.created) and `private` name claims."""
    for public, private in sizes:
        yield ([Project.create(uuid4(), "p", AT) for _ in range(public)]
               + [NameClaim(id=uuid4(), owner_id=uuid4()) for _ in range(private)])


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, SMALL_SAVE + 3), st.integers(0, 3)),
                min_size=1, max_size=3).filter(lambda sizes: any(p for p, _ in sizes)))
def test_the_relay_records_the_ids_a_save_does_not(
    services: Services, sizes: list[tuple[int, int]]
) -> None:
    """A save writes no entry (its transaction is the write path's cost); the relay records
    the ids of what it published with its position, and then the index matches the log."""
    before = indexed(services)
    for aggregates in _saves(sizes):
        services.store.save(*aggregates)
    assert indexed(services) == before
    relay(services)
    assert services.relay.recorded_position() == services.store.recorder.max_notification_id()
    assert indexed(services) == expected(services) != {}
    for public, position in list(expected(services).items())[-3:]:
        found = services.event_audit.find(public)
        assert found is not None and found.position == position and found.id == public


def test_an_event_not_yet_relayed_is_found_by_hashing_the_few_past_the_index(
    any_url: str
) -> None:
    """Between a save and the relay's record the index does not hold the event: the lookup
    hashes the public events past the relay's position (and only those), so it is found the
    moment it is recorded. The cap of scanned events (a 400) no longer applies."""
    services = build_services(make_settings(any_url))
    try:
        services.event_audit.max_scan = 2
        early = next(_saves([(3, 1)]))
        services.store.save(*early)
        relay(services)
        late = next(_saves([(3, 1)]))
        services.store.save(*late)
        for project in [*early, *late][::-1]:
            if isinstance(project, Project):
                found = services.event_audit.find(message_id(project.id, 1))
                assert found is not None and found.subject_id == project.id
                assert services.event_audit.find(message_id(project.id, 1), project.id)
                assert services.event_audit.find(message_id(project.id, 1), uuid4()) is None
        assert services.event_audit.find(message_id(uuid4(), 1)) is None
        assert services.event_audit.find(message_id(early[-1].id, 1)) is None  # not public
    finally:
        services.close()


def test_a_relay_far_behind_is_a_clear_400_not_a_scan_of_everything_behind_it(
    url: str
) -> None:
    """With NATS away the relay records nothing, and every public event written meanwhile is
    past the index: past max_scan of them a lookup without its aggregate gives up
    (QueryTooBroadError, a 400 naming aggregateId) instead of hashing them all, each time.
    Named by its aggregate, it is still found."""
    services = build_services(make_settings(url))
    try:
        services.event_audit.max_scan = SCAN_CHUNK
        saved = next(_saves([(SCAN_CHUNK + 5, 0)]))
        services.store.save(*saved)
        with pytest.raises(QueryTooBroadError, match="aggregateId"):
            services.event_audit.find(message_id(uuid4(), 1))
        last = saved[-1]
        found = services.event_audit.find(message_id(last.id, 1), last.id)
        assert found is not None and found.subject_id == last.id
        relay(services)  # NATS back: the relay catches up and records the ids
        found = services.event_audit.find(message_id(last.id, 1))
        assert found is not None and found.subject_id == last.id
        assert services.event_audit.find(message_id(uuid4(), 1)) is None
    finally:
        services.close()


def test_a_second_admin_finds_what_the_leading_relay_indexed_and_what_it_did_not(
    url: str
) -> None:
    """Two admins of one database: only the relay that holds the lock writes entries; the
    other's lookup reads them, and the tail past the leader's position."""
    first = build_services(make_settings(url))
    second = build_services(make_settings(url))
    try:
        assert first.relay.leader() and not second.relay.leader()
        second.store.save(*next(_saves([(4, 1)])))

        async def both_relays() -> None:
            stop = asyncio.Event()
            runs = [asyncio.create_task(s.relay.run(stop)) for s in (second, first)]
            head = first.store.recorder.max_notification_id()
            while first.relay.recorded_position() != head:
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.gather(*runs)

        asyncio.run(both_relays())
        assert second.relay.published == 0 and first.relay.published == 4
        assert indexed(first) == expected(first)
        late = next(_saves([(2, 0)]))
        first.store.save(*late)
        for public, position in expected(first).items():
            found = second.event_audit.find(public)
            assert found is not None and found.position == position
        assert set(expected(first)) - set(indexed(first)) == {message_id(p.id, 1) for p in late}
    finally:
        second.close()
        first.close()


def test_events_saved_before_the_index_are_filled_in_chunks_and_resumably(
    services: Services
) -> None:
    for aggregates in _saves([(5, 1), (SMALL_SAVE + 2, 2), (3, 0)]):
        services.store.save(*aggregates)
    relay(services)
    everything = expected(services)
    assert indexed(services) == everything
    head = max(everything.values())
    # As a database of the release before: no index, no record of a fill.
    _sql(services, f"DELETE FROM {TABLE}")
    _sql(services, f"DELETE FROM {FILL}")
    assert indexed(services) == {}
    # A start stopped half way: the next one goes on from where it got to.
    recorder: Any = services.store.recorder
    MessageIdFill(recorder).begin()
    assert _sql(services, f"SELECT through, until FROM {FILL}") == [(0, head)]
    half = head // 2
    _sql(services, f"UPDATE {FILL} SET through = ?", (half,))
    assert fill_all(MessageIdFill(recorder, chunk=7)) == head - half
    assert indexed(services) == {m: p for m, p in everything.items() if p > half}
    _sql(services, f"UPDATE {FILL} SET through = 0")
    assert fill_all(MessageIdFill(recorder, chunk=7)) == head
    assert indexed(services) == everything
    assert fill_all(MessageIdFill(recorder)) == 0  # done: a later start reads nothing
    for public, position in everything.items():
        found = services.event_audit.find(public)
        assert found is not None and found.position == position
    # Later events: the relay's.
    services.store.save(*next(_saves([(2, 1)])))
    relay(services)
    assert indexed(services) == expected(services)


def fill_all(fill: MessageIdFill) -> int:
    """Fills chunk after chunk to the end; how many positions that went through."""
    steps, left = 0, fill.step()
    while left:
        steps, left = steps + 1, fill.step()
    assert steps <= fill.positions // fill.chunk  # a chunk's worth each, but the last
    return fill.positions


def test_a_fresh_database_has_nothing_to_fill(services: Services) -> None:
    assert _sql(services, f"SELECT through, until FROM {FILL}") == [(0, 0)]
    fill = MessageIdFill(services.store.recorder)  # type: ignore[arg-type]
    assert fill.progress() == (0, 0) and fill.step() == 0 and fill.positions == 0


def test_an_entry_without_its_event_or_not_its_own_finds_nothing(services: Services) -> None:
    """An entry whose event is not in the log (a log restored from a backup taken before a
    save, beside an index that kept the save's entries) finds nothing, and so does one that
    names another event (damaged): the id is checked against the event found."""
    [project] = next(_saves([(1, 0)]))
    services.store.save(project)
    relay(services)
    position = services.store.recorder.max_notification_id()
    assert position is not None
    postgres = hasattr(services.store.recorder.datastore, "schema")  # type: ignore[attr-defined]
    gone, damaged = message_id(uuid4(), 1), message_id(uuid4(), 1)
    for entry, at in ((gone, position + 1000), (damaged, position)):
        _sql(services, f"INSERT INTO {TABLE} (message_id, position) VALUES (?, ?)",
             (entry if postgres else entry.hex, at))
        assert services.event_audit.find(entry) is None
    assert services.event_audit.find(message_id(project.id, 1)) is not None
