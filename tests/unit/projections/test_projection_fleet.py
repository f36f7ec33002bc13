"""The fleet projection turns real aggregate events into the rows the list/get endpoints read.

Runs on the memory view and on the SQLite view; tests/integration/test_projection_fleet_sql.py
runs the same scenarios on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.utils import Environment

from adapters.memory_views import MemoryTableView
from adapters.sqlite_views import SQLiteFleetView
from domain.alias import Alias
from domain.cluster import Cluster
from domain.enrollment_key import EnrollmentKey
from domain.node import IdType, Node
from domain.node_ports import DEFAULT_PORTS
from domain.node_status import NodeStatus
from entrypoints.settings import Settings
from projections.fleet import HANDLERS, FleetProjection, changes_for
from projections.fleet_tables import FLEET_TABLES
from projections.model import Upsert, UpsertMax
from projections.query import Cond, ListQuery, Order
from projections.view import TableView

APP = "edge"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes, microseconds=minutes)


def sql_fleet_view(view_class: type[TableView], url: str) -> tuple[Any, TableView]:
    env = Settings.from_env({"DATABASE_URL": url, "API_KEY": "k"}).persistence_env("fleet")
    factory: Any = InfrastructureFactory.construct(env=Environment("fleet", env))
    return factory, factory.tracking_recorder(view_class)


@pytest.fixture(params=["memory", "sqlite"])
def view(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TableView]:
    if request.param == "memory":
        yield MemoryTableView(FLEET_TABLES)
        return
    factory, sqlite = sql_fleet_view(SQLiteFleetView, f"sqlite:///{tmp_path}/fleet.sqlite3")
    yield sqlite
    factory.close()


@dataclass
class Feed:
    """Hands aggregates' pending events to the projection as the runner would, in one batch."""

    view: TableView
    position: int = 0
    events: list[Any] = field(default_factory=list)

    def __call__(self, *aggregates: Aggregate) -> None:
        batch = []
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                self.position += 1
                batch.append((event, Tracking(APP, self.position)))
                self.events.append(event)
        FleetProjection(self.view).process_batch(batch)

    def row(self, table: str, key: Any) -> dict[str, Any]:
        row = self.view.get(table, key)
        assert row is not None, (table, key)
        return row


@dataclass
class Fleet:
    """A small fleet built through the aggregates' public methods."""

    feed: Feed
    cluster: Cluster
    other: Cluster
    limited: EnrollmentKey
    unlimited: EnrollmentKey
    node: Node


def register(cluster: Cluster, key: EnrollmentKey, when: datetime, **ports: int) -> Node:
    node = Node.register(uuid4(), cluster.id, cluster.name, IdType.PERSISTENT, "1.0.0", True,
                         ports, (uuid4().hex, uuid4().hex), key.id, when)
    cluster.admit(node.id)
    key.use(node.id, when)
    return node


def issue(cluster: Cluster, uses: int | None, name: str) -> EnrollmentKey:
    return EnrollmentKey.issue(uuid4().hex, "http://admin.test", cluster.id, cluster.name, name,
                               uses, None, at(0))


@pytest.fixture
def fleet(view: TableView) -> Fleet:
    feed = Feed(view)
    cluster = Cluster.create(uuid4(), "alpha", "10.10.0.0/16", None, at(0))
    other = Cluster.create(uuid4(), "beta", "10.20.0.0/16", 5, at(0))
    limited, unlimited = issue(cluster, 3, "three uses"), issue(cluster, None, "unlimited")
    node = register(cluster, limited, at(1), ssh_port=2222)
    unlimited.use(node.id, at(1))
    feed(cluster, other, limited, unlimited, node)
    return Fleet(feed, cluster, other, limited, unlimited, node)


def test_cluster_rows_count_admitted_and_released_nodes(fleet: Fleet) -> None:
    row = fleet.feed.row("clusters", fleet.cluster.id)
    assert row == {"id": fleet.cluster.id, "name": "alpha", "ipv4_range": "10.10.0.0/16",
                   "node_limit": None, "node_count": 1, "inserted_at": at(0), "updated_at": at(0)}
    second = register(fleet.cluster, fleet.unlimited, at(2))
    fleet.feed(second, fleet.cluster, fleet.unlimited)
    assert fleet.feed.row("clusters", fleet.cluster.id)["node_count"] == 2
    fleet.cluster.release(second.id)
    fleet.other.change_node_limit(2, at(3))
    fleet.feed(fleet.cluster, fleet.other)
    assert fleet.feed.row("clusters", fleet.cluster.id)["node_count"] == 1
    other = fleet.feed.row("clusters", fleet.other.id)
    assert (other["node_count"], other["node_limit"], other["updated_at"]) == (0, 2, at(3))


def test_key_uses_count_down_and_unlimited_keys_stay_unlimited(fleet: Fleet) -> None:
    limited = fleet.feed.row("enrollment_keys", fleet.limited.id)
    assert (limited["uses_remaining"], limited["last_used_at"]) == (2, at(1))
    assert limited["key"] == fleet.limited.key and limited["cluster_name"] == "alpha"
    unlimited = fleet.feed.row("enrollment_keys", fleet.unlimited.id)
    assert (unlimited["uses_remaining"], unlimited["last_used_at"]) == (None, at(1))
    for minute in (2, 3):
        fleet.limited.use(fleet.node.id, at(minute))
        fleet.unlimited.use(fleet.node.id, at(minute))
    fleet.feed(fleet.limited, fleet.unlimited)
    assert fleet.feed.row("enrollment_keys", fleet.limited.id)["uses_remaining"] == 0
    assert fleet.feed.row("enrollment_keys", fleet.unlimited.id)["uses_remaining"] is None
    assert fleet.feed.row("enrollment_keys", fleet.unlimited.id)["updated_at"] == at(3)


def test_key_updates_patch_only_the_changed_fields(fleet: Fleet) -> None:
    fleet.limited.update({"name": "renamed", "uses_remaining": None}, at(4))
    fleet.feed(fleet.limited)
    row = fleet.feed.row("enrollment_keys", fleet.limited.id)
    assert (row["name"], row["uses_remaining"], row["updated_at"]) == ("renamed", None, at(4))
    assert (row["inserted_at"], row["last_used_at"]) == (at(0), at(1))
    fleet.limited.use(fleet.node.id, at(5))  # unlimited now: the NULL must stay NULL
    fleet.feed(fleet.limited)
    assert fleet.feed.row("enrollment_keys", fleet.limited.id)["uses_remaining"] is None


def test_node_row_carries_defaults_ports_and_liveness(fleet: Fleet) -> None:
    row = fleet.feed.row("nodes", fleet.node.id)
    assert row["ssh_port"] == 2222
    assert {p: row[p] for p in DEFAULT_PORTS if p != "ssh_port"} == {
        p: v for p, v in DEFAULT_PORTS.items() if p != "ssh_port"}
    assert (row["status"], row["version"], row["self_update_enabled"]) == ("healthy", "1.0.0", True)
    assert (row["cluster_id"], row["cluster_name"], row["id_type"]) == (
        fleet.cluster.id, "alpha", "persistent")
    assert (row["last_seen_at"], row["inserted_at"]) == (at(1), at(1))
    assert row["netmaker_host_id"] is None


def test_reregistration_patches_and_liveness_only_moves_forward(fleet: Fleet) -> None:
    node_id = fleet.node.id
    fleet.node.change_status(NodeStatus.UNREACHABLE, "missed heartbeats", at(3))
    fleet.feed(fleet.node)
    assert fleet.feed.row("nodes", node_id)["status"] == "unreachable"
    # A heartbeat (read side only) lands after the node re-registered, but is projected first.
    fleet.feed.view.apply_untracked(
        [UpsertMax("node_liveness", {"node_id": node_id, "last_seen_at": at(9)}, "last_seen_at")])
    fleet.node.reregister("2.0.0", False, {"http_port": 8080}, None, None, at(5))
    fleet.feed(fleet.node)
    row = fleet.feed.row("nodes", node_id)
    assert (row["version"], row["status"]) == ("2.0.0", "healthy")
    assert row["self_update_enabled"] is False
    assert (row["http_port"], row["ssh_port"]) == (8080, DEFAULT_PORTS["ssh_port"])
    assert row["last_seen_at"] == at(9)
    assert row["updated_at"] == at(5)
    fleet.node.reregister("2.0.0", False, {}, "new-token", None, at(11))
    fleet.feed(fleet.node)
    row = fleet.feed.row("nodes", node_id)
    assert (row["last_seen_at"], row["api_token"]) == (at(11), "new-token")


def test_moves_follow_the_node_and_its_aliases(fleet: Fleet) -> None:
    alias = Alias.create(uuid4(), fleet.node.id, fleet.cluster.id, "alpha", "web", at(2))
    fleet.node.attach_alias(alias.id, "web")
    fleet.feed(alias, fleet.node)
    assert fleet.feed.row("aliases", alias.id)["name"] == "web"
    fleet.node.move_to(fleet.other.id, "beta", at(3))
    alias.move(fleet.other.id, "beta", at(3))
    fleet.cluster.release(fleet.node.id)
    fleet.other.admit(fleet.node.id)
    fleet.feed(fleet.node, alias, fleet.cluster, fleet.other)
    node = fleet.feed.row("nodes", fleet.node.id)
    assert (node["cluster_id"], node["cluster_name"]) == (fleet.other.id, "beta")
    moved = fleet.feed.row("aliases", alias.id)
    assert (moved["cluster_id"], moved["cluster_name"], moved["updated_at"]) == (
        fleet.other.id, "beta", at(3))
    counts = [fleet.feed.row("clusters", c.id)["node_count"] for c in (fleet.cluster, fleet.other)]
    assert counts == [0, 1]
    page = fleet.feed.view.query("nodes", ListQuery((Cond("cluster_name", "eq", "beta"),)))
    assert [r["id"] for r in page.rows] == [fleet.node.id]
    alias.delete(at(4))
    fleet.feed(alias)
    assert fleet.feed.view.get("aliases", alias.id) is None


def test_node_delete_removes_its_row_and_liveness(fleet: Fleet) -> None:
    second = register(fleet.cluster, fleet.unlimited, at(2))
    fleet.feed(second, fleet.cluster, fleet.unlimited)
    fleet.node.delete(at(3))
    fleet.cluster.release(fleet.node.id)
    fleet.feed(fleet.node, fleet.cluster)
    view = fleet.feed.view
    assert view.get("nodes", fleet.node.id) is None
    assert view.select("node_liveness", {"node_id": fleet.node.id}) == []
    assert view.get("node_liveness", second.id) == {"node_id": second.id, "last_seen_at": at(2)}
    assert fleet.feed.row("clusters", fleet.cluster.id)["node_count"] == 1


def test_cluster_delete_removes_its_keys_and_no_others(fleet: Fleet) -> None:
    beta_key = issue(fleet.other, 1, "beta key")
    fleet.node.delete(at(2))
    fleet.cluster.release(fleet.node.id)
    fleet.cluster.delete(at(3))
    fleet.feed(beta_key, fleet.node, fleet.cluster)
    view = fleet.feed.view
    assert view.get("clusters", fleet.cluster.id) is None
    assert view.select("enrollment_keys", {"cluster_id": fleet.cluster.id}) == []
    assert [r["id"] for r in view.select("enrollment_keys", {})] == [beta_key.id]
    assert [r["id"] for r in view.query("clusters", ListQuery()).rows] == [fleet.other.id]


def test_key_delete_removes_only_that_key(fleet: Fleet) -> None:
    fleet.limited.delete(at(2))
    fleet.feed(fleet.limited)
    page = fleet.feed.view.query("enrollment_keys", ListQuery(order=(Order("name"),)))
    assert [r["id"] for r in page.rows] == [fleet.unlimited.id]


def test_events_without_a_read_model_still_advance_the_position(fleet: Fleet) -> None:
    fleet.node.attach_alias(uuid4(), "web")
    events = fleet.node.collect_events()
    assert [changes_for(e) for e in events] == [[]]
    FleetProjection(fleet.feed.view).process_batch([(events[0], Tracking(APP, 100))])
    assert fleet.feed.view.max_tracking_id(APP) == 100


def test_the_same_position_is_applied_at_most_once(fleet: Fleet) -> None:
    view = fleet.feed.view
    position = fleet.feed.position
    assert view.max_tracking_id(APP) == position
    again = fleet.feed.events[-1]  # the node's registration, as a redelivered notification
    fleet.limited.use(fleet.node.id, at(2))
    [used] = fleet.limited.collect_events()
    with pytest.raises(IntegrityError):
        FleetProjection(view).process_event(again, Tracking(APP, position))
    with pytest.raises(IntegrityError):  # the batch is one transaction: the use is not counted
        FleetProjection(view).process_batch(
            [(used, Tracking(APP, position + 1)), (again, Tracking(APP, position))])
    assert view.max_tracking_id(APP) == position
    assert fleet.feed.row("enrollment_keys", fleet.limited.id)["uses_remaining"] == 2
    assert fleet.feed.row("clusters", fleet.cluster.id)["node_count"] == 1
    FleetProjection(view).process_batch([(used, Tracking(APP, position + 1))])
    assert fleet.feed.row("enrollment_keys", fleet.limited.id)["uses_remaining"] == 1


def test_every_upsert_writes_whole_rows(fleet: Fleet) -> None:
    """Views differ on partial upserts (memory replaces, SQL merges): the projection sends none."""
    alias = Alias.create(uuid4(), fleet.node.id, fleet.cluster.id, "alpha", "api", at(2))
    events = [*fleet.feed.events, *alias.collect_events()]
    tables = {t.name: t for t in FLEET_TABLES}
    seen = set()
    for event in events:
        for change in changes_for(event):
            if isinstance(change, Upsert | UpsertMax):
                seen.add(change.table)
                assert set(change.row) == {c.name for c in tables[change.table].columns}
    assert seen == {"clusters", "enrollment_keys", "nodes", "node_liveness", "aliases"}
    assert {type(e) for e in events} <= set(HANDLERS)


def test_ids_are_uuids_in_every_view(fleet: Fleet) -> None:
    for table in ("clusters", "enrollment_keys", "nodes"):
        assert all(isinstance(r["id"], UUID) for r in fleet.feed.view.select(table, {}))
