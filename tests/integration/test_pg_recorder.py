"""The event store's PostgreSQL recorder (COPY): large saves finish, conflicts still conflict."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from adapters.pg_recorder import SMALL_SAVE, CopyApplicationRecorder
from domain.command import Command
from entrypoints.bootstrap import build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _commands(count: int, size: int) -> list[Command]:
    return [Command.issue(uuid4(), "x" * size, {"type": "all"}, None, None, [], AT)
            for _ in range(count)]


def test_a_save_larger_than_socket_buffers_completes(pg_url: str) -> None:
    services = build_services(make_settings(pg_url))
    services.start()
    try:
        assert isinstance(services.store.recorder, CopyApplicationRecorder)
        commands = _commands(1_500, 6_000)  # ~9 MB in one transaction
        outcome: dict[str, Any] = {}

        def save() -> None:
            outcome["recordings"] = services.store.save(*commands)

        worker = threading.Thread(target=save, daemon=True)
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "the save hung"
        ids = [r.notification.id for r in outcome["recordings"]]
        assert ids == list(range(ids[0], ids[0] + len(commands)))  # ours, in order, no gaps
        stored: Command = services.store.repository.get(commands[-1].id)
        assert stored.command_text == "x" * 6_000
    finally:
        services.close()


def test_a_version_conflict_is_still_an_integrity_error(pg_url: str) -> None:
    services = build_services(make_settings(pg_url))
    services.start()
    try:
        [command] = _commands(1, 10)
        services.store.save(command)
        first: Command = services.store.repository.get(command.id)
        second: Command = services.store.repository.get(command.id)
        first.delete(AT)
        second.delete(AT)
        services.store.save(first)
        with pytest.raises(IntegrityError):
            services.store.save(second)
        assert services.store.recorder.max_notification_id() == 2
        # The save begins its transaction itself (its BEGIN goes with the lock): the failed
        # one was rolled back, so no connection is left in it and the next saves commit.
        for _ in range(10):
            services.store.save(*_commands(1, 10))
        assert len(services.store.recorder.select_notifications(1, 100)) == 12
        backends = list(services.store.recorder.backends)  # type: ignore[attr-defined]
        with psycopg.connect(services.settings.postgres_conninfo(), autocommit=True) as conn:
            busy = conn.execute("SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(%s) "
                                "AND state <> 'idle'", (backends,)).fetchall()
        assert busy == []
    finally:
        services.close()


def test_pages_read_as_the_library_reads_them(pg_url: str) -> None:
    """select_notifications' tuple-row page equals the base class's, from every start, for
    every topic filter (the relay's is written into the statement)."""
    services = build_services(make_settings(pg_url))
    try:
        recorder = services.store.recorder
        assert isinstance(recorder, CopyApplicationRecorder)
        services.store.save(*_commands(7, 10))
        for command in _commands(3, 5):
            command.delete(AT)
            services.store.save(command)
        top = recorder.max_notification_id() or 0
        issued = get_topic(Command.Created)
        deleted = "domain.command:Command.Deleted"  # made by @event: no attribute to name
        filters: list[list[str]] = [[], [issued], [deleted],
                                    [issued, deleted], ["no.such:Topic"],
                                    ["it's", issued]]
        for start in (0, 1, 3, top, top + 1):
            for limit in (1, 4, 100):
                for inclusive in (True, False):
                    for topics in filters:
                        ours = recorder.select_notifications(
                            start, limit, topics=topics, inclusive_of_start=inclusive)
                        theirs = PostgresApplicationRecorder.select_notifications(
                            recorder, start, limit, topics=topics,
                            inclusive_of_start=inclusive)
                        assert ours == theirs
                    if inclusive:
                        continue
                    for topics in filters[1:]:  # the relay's read: the page and the head
                        page, head = recorder.select_page_and_head(start, limit, topics)
                        assert (page, head) == (PostgresApplicationRecorder.select_notifications(
                            recorder, start, limit, topics=topics, inclusive_of_start=False),
                            top)
        assert len(recorder.select_notifications(0, 100)) == top
        assert len(recorder.select_notifications(0, 100, topics=[issued])) == 10
        assert len(recorder.select_notifications(0, 100, topics=[deleted])) == 3
    finally:
        services.close()


def test_an_empty_log_has_head_zero(pg_url: str) -> None:
    services = build_services(make_settings(pg_url))
    try:
        recorder = services.store.recorder
        assert isinstance(recorder, CopyApplicationRecorder)
        top = recorder.max_notification_id() or 0  # a fresh admin records its own events
        assert recorder.select_page_and_head(top, 10, ["no.such:Topic"]) == ([], top)
        with recorder.datastore.get_connection() as conn:
            conn.execute(f'DELETE FROM "{recorder.datastore.schema}"."edge_events"')
            conn.commit()
        assert recorder.select_page_and_head(0, 10, [get_topic(Command.Created)]) == ([], 0)
    finally:
        services.close()


@pytest.mark.parametrize("count", [1, 2, 8, 9, SMALL_SAVE, SMALL_SAVE + 1])
def test_either_way_in_each_event_gets_its_own_id_in_order(pg_url: str, count: int) -> None:
    """A small save goes in with one INSERT, a larger one with COPY: both give the events
    consecutive ids in the order of the save, and each id reads back its own event."""
    services = build_services(make_settings(pg_url))
    try:
        services.store.save(*_commands(1, 3))  # an id taken before, so ours do not start at 1
        commands = [Command.issue(uuid4(), f"c{n}", {"type": "all"}, None, None, [], AT)
                    for n in range(count)]
        recordings = services.store.save(*commands)
        ids = [r.notification.id for r in recordings]
        assert ids == list(range(2, 2 + count))
        page = services.store.recorder.select_notifications(2, count)
        read = [services.store.mapper.to_domain_event(n) for n in page]
        assert [e.originator_id for e in read] == [c.id for c in commands]
        assert [getattr(e, "command_text", None) for e in read] == [
            f"c{n}" for n in range(count)]
    finally:
        services.close()
