"""SelfUpdates service (E46, E49): eligible targeting, resumable processing in chunks, failures
for nodes that stopped being eligible, and the catalog messages it leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from application.agent_protocol import ReregisterNode
from application.clusters import CreateCluster
from application.errors import NotFoundError
from application.event_log import messages_after, topics_of
from application.self_updates import CHUNK, CreateSelfUpdateRequest
from domain.catalog import Message
from domain.cluster import Cluster
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.self_update import RequestNotCompletedError
from domain.shared import InvalidValueError, StateConflictError
from entrypoints.bootstrap import Services
from projections.query import Cond, ListQuery
from tests.fakes import FixedClock


@dataclass
class Fleet:
    """In-memory services plus the steps the self-update tests share."""

    services: Services
    clock: FixedClock

    def nodes(self, count: int, cluster_name: str = "prod", updates: bool = True) -> list[UUID]:
        """Registers nodes in one transaction (a big fleet quickly), as enrollment would."""
        rows = self.services.view.select("clusters", {"name": cluster_name})
        cluster_id = rows[0]["id"] if rows else self.services.clusters.create(
            CreateCluster(name=cluster_name))
        ids = [uuid4() for _ in range(count)]

        def decide(uow: Any) -> None:
            cluster = uow.get(Cluster, cluster_id, "cluster")
            for node_id in ids:
                cluster.admit(node_id)
                uow.add(Node.register(node_id, cluster.id, cluster.name, IdType.RANDOM, "1.0.0",
                                      updates, {}, (uuid4().hex, uuid4().hex), uuid4(), uow.now))

        self.services.writes.run(decide)
        return ids

    def request(self, targeting: dict[str, Any] | None = None) -> UUID:
        body = {"targeting": targeting or {"type": "all"}}
        return self.services.self_updates.create(msgspec.convert(body, CreateSelfUpdateRequest))

    def row(self, key: UUID, table: str = "self_update_requests") -> dict[str, Any]:
        found = self.services.view.get(table, key)
        assert found is not None, f"{table} {key} is missing from the read model"
        return found

    def summary(self, request_id: UUID) -> tuple[str, int | None, int | None, int | None]:
        row = self.row(request_id)
        return row["status"], row["total"], row["triggered"], row["failed"]

    def process_all(self) -> int:
        passes = 0
        while self.services.self_updates.process_next():
            passes += 1
        return passes

    def triggered_for(self, request_id: UUID) -> set[UUID]:
        query = ListQuery((Cond("update_request_id", "eq", request_id),), page_size=100_000)
        return {r["id"] for r in self.services.view.query("nodes", query).rows}

    def messages(self, kind: str) -> list[Message]:
        messages, _ = messages_after(self.services.store, 0, topics_of((kind,)), 100_000)
        return messages


@pytest.fixture
def fleet(clocked_services: Services, clock: FixedClock) -> Fleet:
    return Fleet(clocked_services, clock)


def test_create_stores_the_eligibility_rule_and_stays_pending(fleet: Fleet) -> None:
    request_id = fleet.request({"type": "clusters", "cluster_names": ["prod", "prod"],
                                "node_filters": {"version": "0.1.*"}})
    row = fleet.row(request_id)
    assert fleet.summary(request_id) == ("pending", None, None, None)
    assert msgspec.json.decode(row["targeting"]) == {
        "type": "clusters", "cluster_names": ["prod"],
        "node_filters": {"self_update_enabled": True, "status": "healthy", "version": "0.1.*"}}


@pytest.mark.parametrize(("filters", "field"), [
    ({"status": "unhealthy"}, "targeting.node_filters.status"),
    ({"status": "unreachable"}, "targeting.node_filters.status"),
    ({"self_update_enabled": False}, "targeting.node_filters.self_update_enabled"),
])
def test_filters_that_contradict_eligibility_are_refused(
    fleet: Fleet, filters: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidValueError) as refused:
        fleet.request({"type": "all", "node_filters": filters})
    assert refused.value.field == field
    fleet.request({"type": "all", "node_filters": {"status": "healthy",
                                                   "self_update_enabled": True}})


def test_only_healthy_nodes_with_self_update_enabled_are_triggered(fleet: Fleet) -> None:
    eligible = fleet.nodes(2)
    [disabled] = fleet.nodes(1, updates=False)
    [unhealthy] = fleet.nodes(1)
    fleet.services.nodes.set_status(unhealthy, NodeStatus.UNHEALTHY, "heartbeat")
    request_id = fleet.request()
    assert fleet.services.self_updates.process_next()
    assert fleet.summary(request_id) == ("completed", 2, 2, 0)
    assert fleet.triggered_for(request_id) == set(eligible)
    assert fleet.row(disabled, "nodes")["update_request_id"] is None
    assert not fleet.services.self_updates.process_next()
    triggered = fleet.messages("edge.node.update_triggered")
    assert sorted(m.subject_id for m in triggered) == sorted(eligible)
    data: Any = triggered[0].data
    assert (data.cluster_name, data.self_update_request_id) == ("prod", request_id)
    [completed] = fleet.messages("edge.self_update_request.completed")
    data = completed.data
    assert (completed.subject_id, data.total, data.triggered, data.failed) == (
        request_id, 2, 2, 0)


def test_a_request_reaching_no_node_completes_with_zero_counts(fleet: Fleet) -> None:
    fleet.nodes(1)
    request_id = fleet.request({"type": "clusters", "cluster_names": ["nowhere"]})
    assert fleet.process_all() == 1
    assert fleet.summary(request_id) == ("completed", 0, 0, 0)
    assert len(fleet.messages("edge.self_update_request.completed")) == 1


def test_processing_resumes_chunk_by_chunk_and_counts_nodes_lost_meanwhile(fleet: Fleet) -> None:
    nodes = fleet.nodes(CHUNK + 4)
    request_id = fleet.request()
    assert fleet.services.self_updates.process_next()
    assert fleet.summary(request_id) == ("processing", CHUNK + 4, None, None)
    first = fleet.triggered_for(request_id)
    assert len(first) == CHUNK
    # Between chunks the rest of the fleet changes: resolution is not repeated.
    unhealthy, deleted, disabled, fine = (n for n in nodes if n not in first)
    fleet.services.nodes.set_status(unhealthy, NodeStatus.UNHEALTHY, "heartbeat")
    fleet.services.nodes.delete(deleted)
    fleet.services.nodes.reregister(disabled, ReregisterNode(self_update_enabled=False))
    newcomer = fleet.nodes(1)
    assert fleet.services.self_updates.process_next()
    assert fleet.summary(request_id) == ("completed", CHUNK + 4, CHUNK + 1, 3)
    assert fleet.triggered_for(request_id) == first | {fine}
    assert fleet.row(newcomer[0], "nodes")["update_request_id"] is None
    assert len(fleet.messages("edge.node.update_triggered")) == CHUNK + 1
    assert not fleet.services.self_updates.process_next()


def test_requests_are_processed_oldest_first(fleet: Fleet) -> None:
    fleet.nodes(1)
    first = fleet.request()
    fleet.clock.advance(1)
    second = fleet.request()
    assert fleet.services.self_updates.process_next()
    assert (fleet.summary(first)[0], fleet.summary(second)[0]) == ("completed", "pending")
    assert fleet.process_all() == 1
    assert fleet.summary(second) == ("completed", 1, 1, 0)


def test_a_restarted_agent_clears_its_pending_update(fleet: Fleet) -> None:
    [node] = fleet.nodes(1)
    request_id = fleet.request()
    fleet.process_all()
    assert fleet.row(node, "nodes")["update_request_id"] == request_id
    fleet.services.nodes.reregister(node, ReregisterNode(version="1.1.0",
                                                         self_update_enabled=True))
    assert fleet.row(node, "nodes")["update_request_id"] is None
    again = fleet.request()
    fleet.process_all()
    assert fleet.summary(again) == ("completed", 1, 1, 0)


def test_only_completed_requests_can_be_deleted(fleet: Fleet) -> None:
    fleet.nodes(CHUNK + 1)
    request_id = fleet.request()
    for step in range(2):
        with pytest.raises(RequestNotCompletedError) as refused:
            fleet.services.self_updates.delete(request_id)
        assert isinstance(refused.value, StateConflictError)
        if step == 0:
            fleet.services.self_updates.process_next()  # processing now
    fleet.process_all()
    fleet.services.self_updates.delete(request_id)
    assert fleet.services.view.get("self_update_requests", request_id) is None
    for gone in (request_id, uuid4()):
        with pytest.raises(NotFoundError):
            fleet.services.self_updates.delete(gone)
