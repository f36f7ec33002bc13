"""Targeting resolves to the same nodes on the memory, SQLite and PostgreSQL views, and to the
nodes an independent model of the seed's rules (§E30) picks.

The model below shares no code with projections.query or projections.targets: its wildcard is
a regular expression, and each generated time bound carries the instant it stands for (a plain
date is the whole UTC day), so a parsing or boundary slip in the resolver shows up as a diff.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory_views import MemoryTableView
from adapters.postgres_views import PostgresFleetView
from adapters.sqlite_views import SQLiteFleetView
from domain.node import IdType
from domain.node_status import NodeStatus
from domain.targeting import ClusterFilters, NodeFilters, Targeting, TargetType
from projections.fleet_tables import CLUSTERS, FLEET_TABLES, NODE_LIVENESS, NODES
from projections.model import Delete, Upsert
from projections.targets import resolve, resolve_async
from projections.view import TableView
from tests.conftest import PG_BASE, pg_schema
from tests.unit.projections.test_query_sqlite import construct_view

pytestmark = pytest.mark.integration


# --- the fleet -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterRow:
    id: UUID
    name: str
    ipv4_range: str
    node_limit: int | None
    node_count: int
    inserted_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NodeRow:
    id: UUID
    cluster_id: UUID
    cluster_name: str
    id_type: str
    status: str
    version: str | None
    self_update_enabled: bool
    inserted_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None  # None: no liveness row (the LEFT JOIN reads NULL)


@dataclass(frozen=True)
class Fleet:
    clusters: list[ClusterRow]
    nodes: list[NodeRow]


DAY = date(2026, 3, 1)
BOUNDARY_TIMES = [
    datetime.combine(DAY, time.min, UTC),
    datetime.combine(DAY, time.max, UTC),
    datetime.combine(DAY + timedelta(days=1), time.min, UTC),
    datetime.combine(DAY - timedelta(days=1), time.max, UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
NEAR_TIMES = st.datetimes(
    min_value=datetime.combine(DAY - timedelta(days=2), time.min),
    max_value=datetime.combine(DAY + timedelta(days=2), time.max),
    timezones=st.just(UTC),
)
TIMES = st.sampled_from(BOUNDARY_TIMES) | NEAR_TIMES

# Cluster names are DNS labels; "*" and upper case only ever appear in what clients send.
LABELS = st.text(alphabet="abp-1", min_size=1, max_size=5)
RANGES = ["10.0.0.0/24", "10.0.1.0/24", "10.10.0.0/16", "100.64.0.0/10", "100.64.1.0/24",
          "192.168.0.0/16"]
# Agent-reported versions are free text: LIKE/GLOB metacharacters must stay literal.
VERSIONS = ["1.0.0", "1.0.10", "1.1.0", "2.0.0-rc.1", "1.0", "v1.0.0", "1_0%0", "1.0.0[x]",
            "1.?.0", "é1.0", "1.0.0\\", "A.b"]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    names = draw(st.lists(LABELS, unique=True, min_size=draw(st.sampled_from([0, 1, 2, 2])),
                          max_size=6))
    clusters = [
        ClusterRow(
            id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name,
            ipv4_range=draw(st.sampled_from(RANGES)),
            node_limit=draw(st.none() | st.integers(1, 5)), node_count=draw(st.integers(0, 5)),
            inserted_at=draw(TIMES), updated_at=draw(TIMES),
        )
        for name in names
    ]
    # Mostly nodes of known clusters; now and then one whose cluster row is gone.
    homes = st.sampled_from(names) if names else LABELS
    nodes = [
        NodeRow(
            id=draw(st.uuids()), cluster_id=uuid.uuid5(uuid.NAMESPACE_DNS, cluster),
            cluster_name=cluster, id_type=draw(st.sampled_from(list(IdType))).value,
            status=draw(st.sampled_from(list(NodeStatus))).value,
            version=draw(st.none() | st.sampled_from(VERSIONS) | st.text("1.0*%_", max_size=4)),
            self_update_enabled=draw(st.booleans()), inserted_at=draw(TIMES),
            updated_at=draw(TIMES), last_seen_at=draw(st.none() | TIMES),
        )
        for cluster in draw(st.lists(homes | homes | homes | LABELS,
                                     min_size=draw(st.sampled_from([0, 3, 3, 3])), max_size=15))
    ]
    return Fleet(clusters, nodes)


def load(view: TableView, fleet: Fleet) -> None:
    view.apply_untracked([Delete(NODE_LIVENESS.name), Delete(NODES.name), Delete(CLUSTERS.name)])
    changes: list[Any] = [Upsert(CLUSTERS.name, vars(c).copy()) for c in fleet.clusters]
    for node in fleet.nodes:
        row = {c.name: None for c in NODES.columns}
        row.update({k: v for k, v in vars(node).items() if k != "last_seen_at"})
        changes.append(Upsert(NODES.name, row))
        if node.last_seen_at is not None:
            seen = {"node_id": node.id, "last_seen_at": node.last_seen_at}
            changes.append(Upsert(NODE_LIVENESS.name, seen))
    view.apply_untracked(changes)


# --- targeting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """A `__gte`/`__lte` value as sent, and the first and last instant it stands for."""

    text: str
    first: datetime
    last: datetime


OFFSETS = [timezone(timedelta(hours=h, minutes=m))
           for h, m in ((0, 0), (1, 0), (-5, 0), (5, 30), (-9, -30), (14, 0), (-12, 0))]


@st.composite
def bounds(draw: st.DrawFn, seen: list[datetime]) -> Bound:
    """Dates and datetimes in the forms clients send, often right at a value that is there."""
    near = [s for s in seen if 1970 < s.year < 2100]
    from_seen = bool(near) and draw(st.booleans())
    instant = draw(st.sampled_from(near) if from_seen else NEAR_TIMES)
    instant += timedelta(microseconds=draw(st.sampled_from([0, 0, 0, -1, 1])))
    form = draw(st.sampled_from(["date", "date", "z", "offset", "naive", "seconds"]))
    if form == "date":
        day = draw(st.sampled_from([instant.date(), instant.date() - timedelta(days=1),
                                    date(1, 1, 1), date(9999, 12, 31)]))
        return Bound(day.isoformat(), datetime.combine(day, time.min, UTC),
                     datetime.combine(day, time.max, UTC))
    if form == "seconds":  # no fraction: the bound is the whole second's first microsecond
        instant = instant.replace(microsecond=0)
        return Bound(instant.strftime("%Y-%m-%dT%H:%M:%SZ"), instant, instant)
    if form == "z":
        return Bound(instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), instant, instant)
    if form == "naive":  # no offset means UTC
        return Bound(instant.replace(tzinfo=None).isoformat(), instant, instant)
    local = instant.astimezone(draw(st.sampled_from(OFFSETS)))
    return Bound(local.isoformat(), instant, instant)


def swap_some(draw: st.DrawFn, text: str) -> str:
    return "".join(c.swapcase() if draw(st.booleans()) else c for c in text)


@st.composite
def patterns(draw: st.DrawFn, seen: Sequence[str | None]) -> str:
    """Exact values, `*` cut into values that are there, case slips, near misses, noise."""
    present = [s for s in seen if s]
    if not present or draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet="abp1.0-*%_?[\\A", min_size=1, max_size=6))
    out = draw(st.sampled_from(present))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        i = draw(st.integers(0, len(out)))
        j = draw(st.integers(i, len(out)))
        out = out[:i] + "*" + out[j:]
    if draw(st.integers(0, 4)) == 0:
        out = swap_some(draw, out)
    if draw(st.integers(0, 5)) == 0:
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + draw(st.sampled_from("ab*%_.")) + out[i + 1:]
    return out or "*"


@dataclass(frozen=True)
class Case:
    """A targeting and, beside it, the instants its time bounds mean (for the model)."""

    targeting: Targeting
    bounds: dict[str, Bound]


def _pick(draw: st.DrawFn, options: dict[str, Any]) -> dict[str, Any]:
    size = draw(st.sampled_from([1, 1, 1, 2, 2, 3]))  # more ANDed filters rarely leave a node
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, min_size=size,
                           max_size=size))
    return {name: draw(options[name]) for name in chosen}


@st.composite
def cases(draw: st.DrawFn, fleet: Fleet) -> Case:
    node_times = {c: [getattr(n, c) for n in fleet.nodes if getattr(n, c)]
                  for c in ("inserted_at", "updated_at", "last_seen_at")}
    cluster_times = {c: [getattr(k, c) for k in fleet.clusters]
                     for c in ("inserted_at", "updated_at")}
    names = [c.name for c in fleet.clusters]
    node_options: dict[str, Any] = {
        f"{c}__{op}": bounds(seen) for c, seen in node_times.items() for op in ("gte", "lte")}
    node_options.update(
        cluster_name=patterns([*names, *(n.cluster_name for n in fleet.nodes)]),
        version=patterns([n.version for n in fleet.nodes]),
        id_type=st.sampled_from(list(IdType)), status=st.sampled_from(list(NodeStatus)),
        self_update_enabled=st.booleans(),
    )
    counts = st.integers(0, 6) | st.sampled_from([2**63 - 1, 2**63, 2**64 + 5])
    cluster_options: dict[str, Any] = {
        f"{c}__{op}": bounds(seen) for c, seen in cluster_times.items() for op in ("gte", "lte")}
    cluster_options.update(
        name=patterns(names), ipv4_range=patterns([c.ipv4_range for c in fleet.clusters]),
        has_node_limit=st.booleans(), node_count=counts, node_count__gte=counts,
        node_count__lte=counts,
    )
    node_picked = _pick(draw, node_options) if draw(st.booleans()) else None
    cluster_picked = _pick(draw, cluster_options) if draw(st.booleans()) else None
    time_bounds = {f"node_filters.{k}": v for k, v in (node_picked or {}).items()
                   if isinstance(v, Bound)}
    time_bounds.update({f"cluster_filters.{k}": v for k, v in (cluster_picked or {}).items()
                        if isinstance(v, Bound)})

    def sent(picked: dict[str, Any]) -> dict[str, Any]:
        return {k: v.text if isinstance(v, Bound) else v for k, v in picked.items()}

    kind = draw(st.sampled_from(list(TargetType)))
    node_ids = cluster_names = None
    if kind is TargetType.NODES:  # known, unknown and repeated ids
        ids = st.sampled_from([n.id for n in fleet.nodes]) if fleet.nodes else st.uuids()
        node_ids = draw(st.lists(ids | ids | st.uuids(), min_size=1, max_size=8))
    if kind is TargetType.CLUSTERS:  # known, unknown, repeated, mixed-case and starred names
        known = st.sampled_from(names) if names else LABELS
        odd = LABELS | known.map(str.upper) | known.map(lambda n: n[:1] + "*")
        cluster_names = draw(st.lists(known | known | odd, min_size=1, max_size=6))
    targeting = Targeting(
        type=kind, node_ids=node_ids, cluster_names=cluster_names,
        node_filters=None if node_picked is None else NodeFilters(**sent(node_picked)),
        cluster_filters=None if cluster_picked is None else ClusterFilters(
            **sent(cluster_picked)),
    )
    return Case(targeting, time_bounds)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Fleet, list[Case], int, int]:
    fleet = draw(fleets())
    # Small chunk and page sizes make a handful of rows cross the resolver's OR-list and page
    # boundaries, as tens of thousands of ids do in production.
    return (fleet, [draw(cases(fleet)) for _ in range(4)],
            draw(st.sampled_from([1, 2, 3, 500])), draw(st.sampled_from([1, 2, 5, 5000])))


# --- the model -------------------------------------------------------------------------------
def wildcard(pattern: str, value: str | None) -> bool:
    """`*` is any run of characters (none included); everything else, itself, case and all."""
    if value is None:
        return False
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def within(value: datetime | None, key: str, case: Case) -> bool:
    bound = case.bounds[key]
    if value is None:
        return False
    return value >= bound.first if key.endswith("__gte") else value <= bound.last


def cluster_matches(cluster: ClusterRow, case: Case) -> bool:
    f = case.targeting.cluster_filters
    assert f is not None
    checks = [
        f.name is None or wildcard(f.name, cluster.name),
        f.ipv4_range is None or wildcard(f.ipv4_range, cluster.ipv4_range),
        f.has_node_limit is None or f.has_node_limit == (cluster.node_limit is not None),
        f.node_count is None or cluster.node_count == f.node_count,
        f.node_count__gte is None or cluster.node_count >= f.node_count__gte,
        f.node_count__lte is None or cluster.node_count <= f.node_count__lte,
    ]
    for column in ("inserted_at", "updated_at"):
        for op in ("gte", "lte"):
            if getattr(f, f"{column}__{op}") is not None:
                checks.append(within(getattr(cluster, column),
                                     f"cluster_filters.{column}__{op}", case))
    return all(checks)


def node_matches(node: NodeRow, case: Case) -> bool:
    f = case.targeting.node_filters
    assert f is not None
    checks = [
        f.cluster_name is None or wildcard(f.cluster_name, node.cluster_name),
        f.version is None or wildcard(f.version, node.version),
        f.id_type is None or node.id_type == f.id_type.value,
        f.status is None or node.status == f.status.value,
        f.self_update_enabled is None or node.self_update_enabled is f.self_update_enabled,
    ]
    for column in ("inserted_at", "updated_at", "last_seen_at"):
        for op in ("gte", "lte"):
            if getattr(f, f"{column}__{op}") is not None:
                checks.append(within(getattr(node, column), f"node_filters.{column}__{op}", case))
    return all(checks)


def expected(fleet: Fleet, case: Case) -> list[tuple[UUID, str]]:
    t = case.targeting
    by_name = {c.name: c for c in fleet.clusters}
    hits = []
    for node in fleet.nodes:
        if t.type is TargetType.NODES and node.id not in (t.node_ids or []):
            continue
        if t.type is TargetType.CLUSTERS and node.cluster_name not in (t.cluster_names or []):
            continue
        if t.cluster_filters is not None:
            home = by_name.get(node.cluster_name)
            if home is None or not cluster_matches(home, case):
                continue
        if t.node_filters is not None and not node_matches(node, case):
            continue
        hits.append((node.id, node.cluster_name))
    return sorted(hits, key=lambda hit: str(hit[0]))


# --- the views -------------------------------------------------------------------------------
class PostgresTargetView(PostgresFleetView):
    """The fleet tables in this module's private schema."""


class SQLiteTargetView(SQLiteFleetView):
    """The fleet tables in a throwaway SQLite file."""


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for the module: the PostgreSQL view's async pool belongs to its loop."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="module")
def pg_view(loop: asyncio.Runner) -> Iterator[TableView]:
    """With a read pool, as the serve's: it also reads on the event loop."""
    with pg_schema() as schema:
        factory, built = construct_view(PostgresTargetView, f"{PG_BASE}?schema={schema}")
        assert isinstance(built, PostgresTargetView)
        view = PostgresTargetView(built.datastore, read_pool_size=2)
        try:
            yield view
        finally:
            loop.run(view.aclose())
            factory.close()


@pytest.fixture(scope="module")
def sqlite_view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableView]:
    path = Path(tmp_path_factory.mktemp("targeting")) / "fleet.sqlite3"
    factory, view = construct_view(SQLiteTargetView, f"sqlite:///{path}")
    yield view
    factory.close()


@pytest.fixture(scope="module")
def views(pg_view: TableView, sqlite_view: TableView) -> list[TableView]:
    return [pg_view, sqlite_view]


def resolved(view: TableView, targeting: Targeting, chunk: int, page: int) -> list[Any]:
    return [(r.node_id, r.cluster_name)
            for r in resolve(view, targeting, chunk=chunk, page=page)]


def resolved_async(loop: asyncio.Runner, view: TableView, targeting: Targeting, chunk: int,
                   page: int) -> list[Any]:
    found = loop.run(resolve_async(view, targeting, chunk=chunk, page=page))
    return [(r.node_id, r.cluster_name) for r in found]


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_every_view_resolves_targeting_as_the_model_does(
    views: list[TableView], loop: asyncio.Runner, scenario: tuple[Fleet, list[Case], int, int]
) -> None:
    """On the event loop too, where the view reads there (PostgreSQL's)."""
    fleet, examples, chunk, page = scenario
    all_views = [MemoryTableView(FLEET_TABLES), *views]
    for view in all_views:
        load(view, fleet)
    on_the_loop = [view for view in all_views if view.reads_async]
    assert on_the_loop, "no view reads on the event loop: the async resolver goes untested"
    for case in examples:
        want = expected(fleet, case)
        for view in all_views:
            got = resolved(view, case.targeting, chunk, page)
            assert got == want, (type(view).__name__, case.targeting)
        for view in on_the_loop:
            got = resolved_async(loop, view, case.targeting, chunk, page)
            assert got == want, (type(view).__name__, "async", case.targeting)
        # What the service resolves: the checked (deduplicated) form reaches the same nodes.
        assert resolved(all_views[0], case.targeting.checked(), chunk, page) == want


# --- named cases -----------------------------------------------------------------------------
def _fleet_of_one() -> Fleet:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    cluster = ClusterRow(uuid.uuid4(), "prod", "10.0.0.0/24", None, 1, at, at)
    node = NodeRow(uuid.uuid4(), cluster.id, "prod", "random", "healthy", "1.0.0", True, at, at,
                   at)
    return Fleet([cluster], [node])


def test_text_holding_a_nul_character_is_stored_and_matched_everywhere(
    views: list[TableView],
) -> None:
    """JSON lets clients and agents send U+0000, which PostgreSQL text cannot hold: it must
    neither stall the projection nor fail a resolve (PostgreSQL keeps U+FFFD in its place)."""
    fleet = _fleet_of_one()
    odd = NodeRow(**{**vars(fleet.nodes[0]), "id": uuid.uuid4(), "version": "1.0\x00"})
    fleet = Fleet(fleet.clusters, [*fleet.nodes, odd])
    cases = [
        (Targeting(type=TargetType.CLUSTERS, cluster_names=["a\x00"]), 0),
        (Targeting(type=TargetType.CLUSTERS, cluster_names=["prod\x00", "prod"]), 2),
        (Targeting(type=TargetType.ALL, node_filters=NodeFilters(version="1.0\x00")), 1),
        (Targeting(type=TargetType.ALL, node_filters=NodeFilters(version="1.0*")), 2),
        (Targeting(type=TargetType.ALL, node_filters=NodeFilters(cluster_name="\x00")), 0),
        (Targeting(type=TargetType.ALL, cluster_filters=ClusterFilters(name="prod\x00")), 0),
    ]
    for view in [MemoryTableView(FLEET_TABLES), *views]:
        load(view, fleet)
        found = [len(resolve(view, t)) for t, _ in cases]
        assert found == [n for _, n in cases], type(view).__name__


@pytest.mark.parametrize("count", [2**63 - 1, 2**63, 2**64, 10**30])
def test_node_counts_beyond_64_bits_compare_like_any_other_number(
    views: list[TableView], count: int
) -> None:
    """The body's integers are unbounded; SQLite's are 64-bit."""
    fleet = _fleet_of_one()
    for view in [MemoryTableView(FLEET_TABLES), *views]:
        load(view, fleet)
        found = [len(resolve(view, Targeting(type=TargetType.ALL, cluster_filters=f)))
                 for f in (ClusterFilters(node_count=count), ClusterFilters(node_count__gte=count),
                           ClusterFilters(node_count__lte=count))]
        assert found == [0, 0, 1], type(view).__name__
