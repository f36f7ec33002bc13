"""Records match their tables, and Records reads rows as records on every kind of view.

A record's table is derived from its fields (records.table_of); these tests guard the
derivation: every column has a field of its kind, the joined columns too, and the fleet's
fingerprint is pinned, so a change to a record that reshapes a table fails here until the
read-model version is raised with it.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from enum import Enum, IntEnum, StrEnum
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.persistence import Tracking

from adapters.memory_views import MemoryTableView
from adapters.sqlite_views import SQLiteFleetView
from projections.command_reads import CommandReads
from projections.deployment_reads import DeploymentReads
from projections.fleet_reads import FleetReads
from projections.fleet_tables import (
    FLEET_RECORDS,
    FLEET_TABLES,
    FLEET_VERSION,
    NODES,
    NodeRecord,
)
from projections.model import Kind, Upsert
from projections.query import Cond, ListQuery, Order
from projections.records import Record, Records, kind_of
from projections.resource_reads import ResourceReads
from projections.resource_tables import TIMELINE, AttemptRecord
from projections.runtime_controls import RuntimeRecord
from projections.ssh_reads import SshReads
from projections.view import TableView
from projections.webhook_reads import WebhookReads
from tests.unit.projections.test_query_sqlite import construct_view

PYTHON_TYPES = {Kind.TEXT: str, Kind.INT: int, Kind.BOOL: bool, Kind.TIME: datetime,
                Kind.UUID: UUID}


def _subclasses(cls: type[Record]) -> set[type[Record]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found)) if found else found


def _base_type(hint: Any) -> type[Any]:
    """The non-None member of `X | None`, or the type itself."""
    if isinstance(hint, types.UnionType):
        (only,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return typing.cast(type[Any], only)
    return typing.cast(type[Any], hint)


def test_every_record_is_listed_and_reads_a_fleet_table() -> None:
    assert _subclasses(Record) == set(FLEET_RECORDS)
    for record in FLEET_RECORDS:
        assert record.TABLE in FLEET_TABLES, record.__name__


@pytest.mark.parametrize("record", FLEET_RECORDS, ids=lambda r: r.__name__)
def test_a_record_has_a_field_of_the_columns_type_for_each_column(record: type[Record]) -> None:
    columns = {c.name: c.kind for c in record.TABLE.all_columns()}
    hints = typing.get_type_hints(record)
    fields = {name: hints[name] for name in record.__struct_fields__}
    assert sorted(fields) == sorted(columns), record.__name__
    for name, hint in fields.items():
        assert issubclass(_base_type(hint), PYTHON_TYPES[columns[name]]), (record, name)


def test_the_fleet_tables_keep_their_fingerprint() -> None:
    """Pinned beside FLEET_VERSION: if this fails, a table changed shape; raise the version
    (fleet_tables.py) and pin the new fingerprint here."""
    assert (FLEET_VERSION.version, FLEET_VERSION.fingerprint) == (8, "fe0eb91f862a43f7")


class _Colour(StrEnum):
    RED = "red"


class _Level(IntEnum):
    LOW = 1


class _Shape(Enum):
    SQUARE = object()


@pytest.mark.parametrize(("hint", "kind"), [
    (str, Kind.TEXT), (_Colour, Kind.TEXT), (Literal["a", "b"], Kind.TEXT),
    (int | None, Kind.INT), (_Level, Kind.INT), (bool, Kind.BOOL), (bool | None, Kind.BOOL),
    (datetime | None, Kind.TIME), (UUID, Kind.UUID), (typing.Optional[UUID], Kind.UUID),  # noqa: UP045
])
def test_a_field_type_gives_its_column_kind(hint: Any, kind: Kind) -> None:
    assert kind_of(hint) is kind


@pytest.mark.parametrize("hint", [float, bytes, _Shape, int | str, list[str], Literal["a", 1]])
def test_a_field_type_without_a_column_kind_is_refused(hint: Any) -> None:
    with pytest.raises(TypeError):
        kind_of(hint)


def test_an_attempt_has_a_seq_and_an_at_column_per_timeline_event() -> None:
    fields = AttemptRecord.__struct_fields__
    assert all(f"{p}_seq" in fields and f"{p}_at" in fields for p in TIMELINE.values())


NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _node(cluster_id: UUID, token: str, **more: Any) -> dict[str, Any]:
    return {"id": uuid4(), "cluster_id": cluster_id, "cluster_name": "east", "id_type": "random",
            "api_token": token, "proxy_password": "p", "status": "healthy", "version": None,
            "self_update_enabled": True, "update_request_id": None, "netmaker_host_id": None,
            "http_port": 1, "http_proxy_port": 2, "socks5_proxy_port": 3, "ssh_port": 4,
            "host_metrics_port": 5, "wireguard_metrics_port": 6, "inserted_at": NOW,
            "updated_at": NOW, **more}


@pytest.fixture(params=["memory", "sqlite"])
def view(request: pytest.FixtureRequest, tmp_path: Path) -> typing.Iterator[TableView]:
    if request.param == "memory":
        yield MemoryTableView(FLEET_TABLES)
        return
    factory, built = construct_view(SQLiteFleetView, f"sqlite:///{tmp_path / 'r.db'}")
    yield built
    factory.close()


def test_records_read_rows_as_typed_records(view: TableView) -> None:
    cluster = uuid4()
    rows = [_node(cluster, f"t{i}") for i in range(3)]
    view.apply([([Upsert(NODES.name, r) for r in rows], Tracking("fleet", 1))])
    nodes = Records(view, NodeRecord)
    first = rows[0]
    got = nodes.get(first["id"])
    assert isinstance(got, NodeRecord)
    assert (got.id, got.inserted_at, got.last_seen_at, got.status) == (
        first["id"], NOW, None, "healthy")
    assert isinstance(got.id, UUID) and got.inserted_at.tzinfo is not None
    assert nodes.get(uuid4()) is None
    page = nodes.page(ListQuery(order=(Order("api_token", descending=True),), page_size=2))
    assert [n.api_token for n in page.records] == ["t2", "t1"] and page.total == 3
    assert nodes.first(Cond("api_token", "eq", "t1")) == nodes.get(rows[1]["id"])
    assert sorted(nodes.ids(ListQuery(page_size=10)), key=str) == sorted(
        (r["id"] for r in rows), key=str)
    in_key_order = sorted((r["id"] for r in rows), key=str)
    assert [n.id for n in nodes.every(size=2)] == in_key_order
    assert [n.id for n in nodes.every(Cond("api_token", "ne", "t0"), size=1)] == [
        i for i in in_key_order if i != first["id"]]
    reads = FleetReads(view)
    assert reads.node_by_api_token("t0") == got
    other = uuid4()
    assert reads.nodes_of_clusters([other, cluster]) == {other: [], cluster: [
        nodes.get(i) for i in in_key_order]}
    assert reads.nodes_of_clusters([]) == {}


class Token(msgspec.Struct, frozen=True):
    """Two of NodeRecord's fields, for the narrow reads."""

    id: UUID
    api_token: str


class Stranger(msgspec.Struct, frozen=True):
    id: UUID
    no_such_column: str


def test_narrow_reads_only_the_columns_a_shape_names(view: TableView) -> None:
    rows = [_node(uuid4(), f"t{i}") for i in range(3)]
    view.apply([([Upsert(NODES.name, r) for r in rows], Tracking("fleet", 1))])
    nodes = Records(view, NodeRecord)
    in_token_order = [Token(r["id"], r["api_token"]) for r in rows]
    by_token = ListQuery(order=(Order("api_token", descending=True),), page_size=2)
    assert nodes.narrow(Token, by_token) == in_token_order[:0:-1]
    in_key_order = sorted(in_token_order, key=lambda t: str(t.id))
    assert list(nodes.every_narrow(Token, size=2)) == in_key_order
    assert list(nodes.every_narrow(Token, Cond("api_token", "eq", "t1"))) == [
        in_token_order[1]]
    assert [n.api_token for n in nodes.every(size=2, order="api_token")] == ["t0", "t1", "t2"]
    with pytest.raises(AssertionError):
        nodes.narrow(Stranger, by_token)


READS = (CommandReads, DeploymentReads, FleetReads, ResourceReads, SshReads, WebhookReads)


def test_each_context_reads_every_record_it_declares_on_its_view() -> None:
    view = MemoryTableView(FLEET_TABLES)
    declared: set[type[Record]] = set()
    for reads_of in READS:
        reads = reads_of(view)
        assert reads.view is view
        for name, hint in typing.get_type_hints(reads_of).items():
            if typing.get_origin(hint) is Records:
                records = getattr(reads, name)
                assert (records.record, records.view) == (typing.get_args(hint)[0], view)
                declared.add(records.record)
    # Every record of the fleet is read by some context (CommandReads reads nodes too), but
    # the runtime a deployment should have, which only the agent's work poll reads, through
    # the DeploymentFinder port (adapters/deployment_finder.py).
    assert declared | {RuntimeRecord} == set(FLEET_RECORDS)


def test_a_row_the_record_cannot_hold_fails_loudly() -> None:
    view = MemoryTableView(FLEET_TABLES)
    bad = _node(uuid4(), "t", status="sleeping")
    view.apply([([Upsert(NODES.name, bad)], Tracking("fleet", 1))])
    with pytest.raises(msgspec.ValidationError):
        Records(view, NodeRecord).get(bad["id"])


def test_uuids_and_datetimes_pass_through_unconverted() -> None:
    view = MemoryTableView(FLEET_TABLES)
    row = _node(uuid4(), "t", netmaker_host_id=uuid4())
    view.apply([([Upsert(NODES.name, row)], Tracking("fleet", 1))])
    got = Records(view, NodeRecord).get(row["id"])
    assert got is not None
    assert got.id is row["id"] and got.netmaker_host_id is row["netmaker_host_id"]
    assert got.inserted_at is row["inserted_at"]
