"""WritePath: decide on fresh state, retry after a lost version race, wait for the read model."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.clusters import CreateCluster
from application.errors import ConflictError, NotFoundError
from application.write_path import UnitOfWork, WritePath
from domain.cluster import Cluster
from domain.command import Command
from entrypoints.bootstrap import Services
from tests.fakes import FixedClock


def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


def sneak_in_limit(services: Services, cluster_id: UUID, limit: int) -> None:
    """Another writer (as if in another process) saves the cluster behind the write path."""
    cluster: Cluster = services.store.repository.get(cluster_id)
    cluster.change_node_limit(limit, cluster.modified_on)
    services.store.save(cluster)


def test_lost_race_is_decided_again_on_fresh_state(services: Services) -> None:
    cid = services.clusters.create(CreateCluster(name="c" + uuid4().hex[:10], node_limit=5))
    seen: list[int | None] = []

    def decide(uow: UnitOfWork) -> int | None:
        cluster = uow.get(Cluster, cid, "cluster")
        seen.append(cluster.node_limit)
        if len(seen) == 1:
            sneak_in_limit(services, cid, 9)
        cluster.admit(uuid4())
        return cluster.node_limit

    written = services.writes.execute(decide)
    assert seen == [5, 9]
    assert written.result == 9
    row = must_get(services, "clusters", cid)
    assert (row["node_limit"], row["node_count"]) == (9, 1)


def test_too_many_lost_races_become_a_conflict(services: Services) -> None:
    cid = services.clusters.create(CreateCluster(name="c" + uuid4().hex[:10], node_limit=5))
    writes = WritePath(services.store, FixedClock(), services.projector, max_attempts=3)
    attempts = 0

    def decide(uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        cluster = uow.get(Cluster, cid, "cluster")
        sneak_in_limit(services, cid, 10 + attempts)
        cluster.admit(uuid4())

    with pytest.raises(ConflictError):
        writes.execute(decide)
    assert attempts == 3
    # Only the sneaked-in writes landed; none of the decision's admits did.
    assert services.store.repository.get(cid).node_count == 0


def test_gone_aggregates_read_as_not_found(memory_services: Services) -> None:
    cid = memory_services.clusters.create(CreateCluster(name="prod"))
    memory_services.clusters.delete("prod")
    with pytest.raises(NotFoundError):
        memory_services.writes.run(lambda uow: uow.find(Cluster, cid).admit(uuid4()))  # type: ignore[union-attr]


def test_a_decision_without_changes_writes_nothing(memory_services: Services) -> None:
    before = memory_services.store.recorder.max_notification_id()
    written = memory_services.writes.execute(lambda uow: 42)
    assert (written.result, written.position) == (42, None)
    assert memory_services.store.recorder.max_notification_id() == before


def test_a_failed_decision_saves_none_of_its_aggregates(memory_services: Services) -> None:
    cid = memory_services.clusters.create(CreateCluster(name="prod"))

    def decide(uow: UnitOfWork) -> None:
        uow.get(Cluster, cid, "cluster").admit(uuid4())
        raise NotFoundError("something else was missing")

    with pytest.raises(NotFoundError):
        memory_services.writes.run(decide)
    assert must_get(memory_services, "clusters", cid)["node_count"] == 0


def test_every_write_returns_after_the_view_has_it(services: Services) -> None:
    prefix = "c" + uuid4().hex[:8]
    for i in range(15):
        cid = services.clusters.create(CreateCluster(name=f"{prefix}-{i}", node_limit=i + 1))
        assert must_get(services, "clusters", cid)["node_limit"] == i + 1
    written = services.writes.execute(
        lambda uow: uow.get(Cluster, cid, "cluster").change_node_limit(99, uow.now)
    )
    assert written.position is not None
    assert (services.view.max_tracking_id(services.store.name) or 0) >= written.position
    assert must_get(services, "clusters", cid)["node_limit"] == 99


def test_a_decision_wakes_the_polls_of_the_nodes_it_rings_once_committed(
    services: Services,
) -> None:
    """UnitOfWork.ring: the nodes' long polls wake when the write is answered, on any store
    and either way in (a thread, the event loop); a decision refused after ringing wakes none."""
    rung, refused, untouched = uuid4(), uuid4(), uuid4()

    def create(ring: UUID, refuse: bool = False) -> Any:
        def decide(uow: UnitOfWork) -> None:
            uow.add(Command.issue(uuid4(), "uptime", {"type": "all"}, None, None, [ring],
                                  uow.now))
            uow.ring([ring, None])
            if refuse:
                raise ConflictError("refused after ringing")
        return decide

    async def scenario() -> list[bool]:
        bell = services.doorbell
        if services.listener is not None:  # its first LISTEN wakes every poll: let it pass
            with bell.listen(uuid4()) as connected, suppress(TimeoutError):
                await asyncio.wait_for(connected.wait(), 3)  # (or it passed already)
        with bell.listen(rung) as woken, bell.listen(refused) as quiet, \
                bell.listen(untouched) as other:
            with pytest.raises(ConflictError):
                await services.writes.run_async(create(refused, refuse=True))
            await services.writes.run_async(create(rung))
            await asyncio.sleep(0.05)  # a ring is delivered through the loop
            first = [woken.is_set(), quiet.is_set(), other.is_set()]
            woken.clear()
            await asyncio.to_thread(services.writes.run, create(rung))
            await asyncio.sleep(0.05)
            return [*first, woken.is_set()]

    assert asyncio.run(scenario()) == [True, False, False, True]
