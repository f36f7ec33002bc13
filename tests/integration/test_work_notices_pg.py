"""Work a decision records reaches other admin processes with its commit: the event store's own
NOTIFY carries the nodes (no notice of its own, no thread sending it after), and PostgreSQL
delivers it only if the transaction commits. Where the read model is not applied in the commit,
the ring still goes after the write, on the work bell's channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from application.write_path import UnitOfWork
from domain.command import Command
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
AT = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def _services(pg_url: str, in_commit: bool = True) -> Iterator[Services]:
    services = build_services(make_settings(pg_url, write_project_in_commit=in_commit))
    services.start()
    try:
        yield services
    finally:
        services.close()


@pytest.fixture(params=[True, False], ids=["in-commit", "projector"])
def started(request: pytest.FixtureRequest, pg_url: str) -> Iterator[Services]:
    with _services(pg_url, request.param) as services:
        yield services


class Listening:
    """Another process's view: what it hears on the store's channel and the work channel."""

    def __init__(self, services: Services) -> None:
        self.events = services.store.recorder.channel_name  # type: ignore[attr-defined]
        self.work = f"{self.events}_work"
        self.conn = psycopg.connect(services.settings.postgres_conninfo(), autocommit=True)
        for channel in (self.events, self.work):
            self.conn.execute(f'LISTEN "{channel}"')

    def heard(self, seconds: float = 1.0) -> list[tuple[str, str]]:
        """(channel, payload) of the notices that arrived within `seconds`."""
        heard: list[tuple[str, str]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            heard += [(n.channel, n.payload) for n in self.conn.notifies(timeout=left)]
        return heard

    def close(self) -> None:
        self.conn.close()


def _issue(node_id: UUID, fail: bool = False) -> Callable[[UnitOfWork], UUID]:
    """A decision issuing a command for the node and ringing it (then refusing, if `fail`)."""
    command_id = uuid4()

    def decide(uow: UnitOfWork) -> UUID:
        uow.add(Command.issue(command_id, "uptime", {"type": "all"}, None, None, [node_id],
                              uow.now))
        uow.ring([node_id])
        if fail:
            raise ValueError("refused after ringing")
        return command_id

    return decide


def test_a_decisions_ring_goes_with_its_commit_and_only_then(started: Services) -> None:
    in_commit = started.store.notifies_in_commit()
    listening = Listening(started)
    try:
        listening.heard(0.3)  # start-up's own notices
        node = uuid4()
        notice = f"{started.doorbell.origin} {node}"

        with pytest.raises(ValueError, match="refused after ringing"):
            started.writes.run(_issue(node, fail=True))
        assert all(str(node) not in p for _, p in listening.heard(0.5))

        started.writes.run(_issue(node))
        heard = listening.heard()
        if in_commit:  # the commit's own notice names the node; nothing else is sent
            assert (listening.events, notice) in heard
            assert not [p for channel, p in heard if channel == listening.work and str(node) in p]
        else:  # the read model comes later: rung once the write reads back, on its channel
            assert (listening.work, notice) in heard
    finally:
        listening.close()


def test_a_save_that_does_not_commit_tells_nobody(started: Services) -> None:
    listening = Listening(started)
    try:
        [command] = [Command.issue(uuid4(), "uptime", {"type": "all"}, None, None, [], AT)]
        started.store.save(command)
        first: Command = started.store.repository.get(command.id)
        second: Command = started.store.repository.get(command.id)
        first.delete(AT)
        second.delete(AT)
        started.store.save(first, notices=["kept"])
        with pytest.raises(IntegrityError):
            started.store.save(second, notices=["rolled back"])
        payloads = [p for _, p in listening.heard()]
        assert "kept" in payloads
        assert "rolled back" not in payloads
    finally:
        listening.close()


def test_a_command_for_many_nodes_tells_them_in_notices_postgresql_takes(pg_url: str) -> None:
    """Notices are under 8,000 bytes each: 200 nodes a notice, and past 2,000 one `*`."""
    with _services(pg_url) as started:
        _tell_many(started)


def _tell_many(started: Services) -> None:
    listening = Listening(started)
    try:
        for count, expect in ((450, 3), (2_001, 1)):
            nodes = [uuid4() for _ in range(count)]

            def decide(uow: UnitOfWork, nodes: list[UUID] = nodes) -> None:
                uow.add(Command.issue(uuid4(), "uptime", {"type": "all"}, None, None, nodes,
                                      uow.now))
                uow.ring(nodes)

            started.writes.run(decide)
            ours = [p for channel, p in listening.heard()
                    if channel == listening.events and p.startswith(started.doorbell.origin)]
            assert len(ours) == expect, (count, [len(p) for p in ours])
            assert all(len(p.encode()) < 8_000 for p in ours)
    finally:
        listening.close()
