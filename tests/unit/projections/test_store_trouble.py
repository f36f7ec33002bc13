"""The projector tells the database's trouble from an event's: a statement the database broke
off (or no connection) leaves writes to wait for the read model as usual and goes on by itself;
an error of the event's own (a handler's bug, a value the database refuses) makes it stuck and
refuses writes at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import DataError, OperationalError

from application.clusters import CreateCluster
from domain.cluster import Cluster
from entrypoints.bootstrap import Services
from projections import fleet
from projections.status import ProjectionStuckError, StoreUnavailableError

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


def test_a_value_the_database_refuses_makes_the_projector_stuck(
    memory_services: Services, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(event: Any) -> Any:
        raise DataError("value too long for type character varying(63)")

    monkeypatch.setitem(HANDLERS, Cluster.Created, refused)
    with pytest.raises(ProjectionStuckError):
        memory_services.clusters.create(CreateCluster(name="refused"))
    assert memory_services.projector.store_away is None
    failure = memory_services.projector.failure
    assert failure is not None and "DataError" in failure.error
