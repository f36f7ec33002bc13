"""The projector tells the database's trouble from an event's: a statement the database broke
off (or no connection) leaves writes to wait for the read model as usual and goes on by itself;
an error of the event's own (a handler's bug, a value the database refuses, a statement SQLite
cannot run) makes it stuck and refuses writes at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg.errors
import pytest
from eventsourcing.persistence import DataError, OperationalError

from application.clusters import CreateCluster
from domain.cluster import Cluster
from entrypoints.bootstrap import Services
from projections import fleet
from projections.status import (
    ProjectionStuckError,
    StoreUnavailableError,
    is_store_trouble,
    store_trouble_reason,
)

HANDLERS: dict[Any, Any] = fleet.HANDLERS


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.parametrize("trouble", [
    OperationalError("terminating connection due to administrator command"),
    StoreUnavailableError("the database gave no connection within 5 s"),
])
def test_the_databases_trouble_is_waited_out_and_refuses_no_write(
    memory_services: Services, monkeypatch: pytest.MonkeyPatch, trouble: Exception,
) -> None:
    svc = memory_services
    original = HANDLERS[Cluster.Created]
    calls: list[bool] = []

    def troubled(event: Any) -> Any:
        calls.append(True)
        if len(calls) <= 2:
            raise trouble
        return original(event)

    monkeypatch.setitem(HANDLERS, Cluster.Created, troubled)
    answered: list[object] = []
    writer = threading.Thread(target=lambda: answered.append(
        svc.clusters.create(CreateCluster(name="patient"))))
    writer.start()
    _until(lambda: svc.projector.store_away is not None, "the projector never said it waits")
    assert svc.projector.failure is None
    svc.projector.check()  # another write is not refused in the event's name
    writer.join(10)
    assert answered and not writer.is_alive()  # answered once the third try applied it
    assert svc.projector.store_away is None and svc.projector.failure is None
    assert svc.fleet_reads.clusters.first() is not None


def _as_eventsourcing_does(exc: sqlite3.OperationalError) -> OperationalError:
    """What eventsourcing's SQLite datastore raises for sqlite3's error."""
    wrapped = OperationalError(exc)
    wrapped.__cause__ = exc
    return wrapped


def _sqlite_error(sql: str) -> OperationalError:
    """A statement SQLite cannot run."""
    try:
        sqlite3.connect(":memory:").execute(sql)
    except sqlite3.OperationalError as exc:
        return _as_eventsourcing_does(exc)
    raise AssertionError(sql)


def _sqlite_busy() -> OperationalError:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # SQLITE_BUSY, as sqlite3 sets it
    return _as_eventsourcing_does(busy)


@pytest.mark.parametrize("bug", [
    DataError("value too long for type character varying(63)"),
    _sqlite_error("SELECT no_such_column FROM sqlite_master"),
])
def test_an_error_of_the_events_own_makes_the_projector_stuck(
    memory_services: Services, monkeypatch: pytest.MonkeyPatch, bug: Exception,
) -> None:
    def refused(event: Any) -> Any:
        raise bug

    monkeypatch.setitem(HANDLERS, Cluster.Created, refused)
    with pytest.raises(ProjectionStuckError):
        memory_services.clusters.create(CreateCluster(name="refused"))
    assert memory_services.projector.store_away is None
    failure = memory_services.projector.failure
    assert failure is not None and type(bug).__name__ in failure.error


def test_which_errors_are_the_databases_trouble() -> None:
    assert is_store_trouble(StoreUnavailableError("away"))
    assert is_store_trouble(OperationalError("terminating connection"))
    assert is_store_trouble(_sqlite_busy())
    assert not is_store_trouble(_sqlite_error("SELECT * FROM no_such_table"))
    assert not is_store_trouble(DataError("value too long"))
    assert not is_store_trouble(RuntimeError("a handler's bug"))


def test_what_the_database_is_short_of_is_said_in_our_words() -> None:
    """A full disk (SQLite's own error, raised here by a page limit; PostgreSQL's SQLSTATE
    53100), no connection left: wrapped as eventsourcing wraps them."""
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA max_page_count = 2")
    conn.execute("CREATE TABLE t (x)")
    with pytest.raises(sqlite3.OperationalError) as full:
        for _ in range(10):
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 5000,))

    def wrapped(cause: BaseException) -> OperationalError:
        try:
            raise OperationalError(str(cause)) from cause
        except OperationalError as exc:
            return exc

    assert store_trouble_reason(wrapped(full.value)) == "its disk is full"
    assert store_trouble_reason(wrapped(psycopg.errors.DiskFull())) == "its disk is full"
    assert store_trouble_reason(wrapped(psycopg.errors.TooManyConnections())) == (
        "it has no connection left (max_connections)")
    assert store_trouble_reason(wrapped(psycopg.errors.AdminShutdown())) is None
    assert store_trouble_reason(StoreUnavailableError("no connection within 5 s")) is None
