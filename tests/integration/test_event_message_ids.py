"""The index of catalog message ids (adapters/event_message_ids.py): each save records the ids
of its public events, on both insert paths of PostgreSQL and on SQLite; the events saved before
it existed are filled in at start, a chunk at a time and resumably; a lookup finds each one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.event_message_ids import FILL, TABLE, fill_message_ids, id_of
from adapters.pg_recorder import SMALL_SAVE
from domain.catalog import message_id
from domain.claims import NameClaim
from domain.project import Project
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def services(request: pytest.FixtureRequest) -> Iterator[Services]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
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


def indexed(services: Services) -> dict[UUID, tuple[UUID, int]]:
    rows = _sql(services, f"SELECT message_id, originator_id, originator_version FROM {TABLE}")
    return {_uuid(m): (_uuid(o), v) for m, o, v in rows}


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def expected(services: Services) -> dict[UUID, tuple[UUID, int]]:
    """What the index should hold: every public event of the log, by its id."""
    found = {}
    for n in services.store.recorder.select_notifications(start=1, limit=1_000_000):
        public = id_of(n.originator_id, n.originator_version, n.topic)
        if public is not None:
            found[public] = (_uuid(n.originator_id), n.originator_version)
    return found


def positions(services: Services) -> dict[UUID, int]:
    return {message_id(_uuid(n.originator_id), n.originator_version): n.id
            for n in services.store.recorder.select_notifications(start=1, limit=1_000_000)}


def _saves(sizes: list[tuple[int, int]]) -> Iterator[list[Any]]:
    """Saves of `public` projects (edge.project.created) and `private` name claims."""
    for public, private in sizes:
        yield ([Project.create(uuid4(), "p", AT) for _ in range(public)]
               + [NameClaim(id=uuid4(), owner_id=uuid4()) for _ in range(private)])


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, SMALL_SAVE + 3), st.integers(0, 3)).filter(any),
                min_size=1, max_size=3))
def test_each_save_records_the_ids_of_its_public_events(
    services: Services, sizes: list[tuple[int, int]]
) -> None:
    # Both PostgreSQL paths: one INSERT up to SMALL_SAVE rows, COPY beyond.
    for aggregates in _saves(sizes):
        services.store.save(*aggregates)
    assert indexed(services) == expected(services) != {}
    at = positions(services)
    for public in list(expected(services))[-3:]:
        found = services.event_audit.find(public)
        assert found is not None and found.position == at[public] and found.id == public


def test_events_saved_before_the_index_are_filled_in_chunks_and_resumably(
    services: Services
) -> None:
    for aggregates in _saves([(5, 1), (SMALL_SAVE + 2, 2), (3, 0)]):
        services.store.save(*aggregates)
    everything = expected(services)
    assert indexed(services) == everything  # the save past SMALL_SAVE went in by COPY
    at = positions(services)
    head = max(at.values())
    # As a database of the release before: no index, no record of a fill.
    _sql(services, f"DELETE FROM {TABLE}")
    _sql(services, f"DELETE FROM {FILL}")
    assert services.event_audit.find(next(iter(everything))) is None
    # A start stopped half way: the next one goes on from where it got to.
    recorder = services.store.recorder
    _sql(services, f"INSERT INTO {FILL} (through, until) VALUES (0, ?)", (head,))
    half = head // 2
    _sql(services, f"UPDATE {FILL} SET through = ?", (half,))
    assert fill_message_ids(recorder, chunk=7) == head - half
    assert indexed(services) == {m: k for m, k in everything.items() if at[m] > half}
    _sql(services, f"UPDATE {FILL} SET through = 0")
    assert fill_message_ids(recorder, chunk=7) == head
    assert indexed(services) == everything
    assert fill_message_ids(recorder) == 0  # done: a later start reads nothing
    for public in everything:
        found = services.event_audit.find(public)
        assert found is not None and found.position == at[public]
    # Later saves record their own.
    services.store.save(*next(_saves([(2, 1)])))
    assert indexed(services) == expected(services)


def test_a_fresh_database_has_nothing_to_fill(services: Services) -> None:
    assert _sql(services, f"SELECT through, until FROM {FILL}") == [(0, 0)]
    assert fill_message_ids(services.store.recorder) == 0


def test_an_entry_without_its_event_or_not_its_own_finds_nothing(services: Services) -> None:
    """An entry whose event is not in the log (a log restored from a backup taken before a
    save, beside an index that kept the save's entries) finds nothing, and so does one that
    does not name its own event (damaged): the id is checked against the event found."""
    [project] = next(_saves([(1, 0)]))
    services.store.save(project)
    recorder: Any = services.store.recorder
    postgres = hasattr(recorder.datastore, "schema")
    gone, damaged = message_id(uuid4(), 1), message_id(uuid4(), 1)
    for entry, originator in ((gone, uuid4()), (damaged, project.id)):
        _sql(services, f"INSERT INTO {TABLE} (message_id, originator_id, originator_version) "
             "VALUES (?, ?, 1)", (entry, originator) if postgres else (entry.hex,
                                                                       originator.hex))
        assert services.event_audit.find(entry) is None
    assert services.event_audit.find(message_id(project.id, 1)) is not None
