"""A list's count on PostgreSQL is kept while the read model's version stands still, and
counted again once it moves (adapters/postgres_views.py, COUNTS_KEPT): after any tracked
write, here or in another process, after a rewrite of the position row at the same position
(a rebuild that ends where the last one did), never for a filter on a joined table's column.

A row written straight into an owned table, behind the position's back (the service never
does), is what shows whether a count was kept or counted: a kept count does not include it.
And for any sequence of tracked writes, untracked writes to a joined table and lists, every
list's total is the count at its read (the threaded reads, which keep nothing, say what it is).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.postgres_views import PostgresTableView
from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from entrypoints.bootstrap import Services, build_services
from projections.model import Change, Delete, Upsert
from projections.query import AnyOf, Cond, ListQuery
from tests.conftest import PG_BASE, make_settings, pg_schema
from tests.unit.projections.test_query_sqlite import ITEMS, OWNERS, construct_view

pytestmark = pytest.mark.integration

ALL = ListQuery(page_size=2)


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


def _started(schema: str) -> Services:
    services = build_services(make_settings(f"{PG_BASE}?schema={schema}"))
    services.start()
    return services


def _enroll(services: Services, runner: asyncio.Runner, key: str) -> None:
    runner.run(services.nodes.enroll_async(
        EnrollNode(enrollment_key=key, id_type="random", version="1.0.0")))


def _total(services: Services, runner: asyncio.Runner, query: ListQuery = ALL) -> int:
    return runner.run(services.view.query_async("nodes", query)).total


def _behind_the_positions_back(schema: str, cluster_id: object) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema}".rm_nodes (id, cluster_id, cluster_name, status)'
                     " VALUES (%s, %s, 'prod', 'healthy')", (uuid4(), cluster_id))


def test_a_count_is_kept_until_the_read_model_moves(schema: str) -> None:
    services = _started(schema)
    other = _started(schema)  # another process on the same database
    try:
        with asyncio.Runner() as runner, asyncio.Runner() as other_runner:
            try:
                cluster_id = services.clusters.create(CreateCluster(name="prod"))
                key_id = services.enrollment_keys.issue(
                    "prod", IssueEnrollmentKey(uses_remaining=None))
                blob = services.view.get("enrollment_keys", key_id)
                assert blob is not None
                for _ in range(3):
                    _enroll(services, runner, blob["key"])
                in_cluster = ListQuery((Cond("cluster_id", "eq", cluster_id),), page_size=2)
                stale = ListQuery((Cond("last_seen_at", "null"),), page_size=2)
                assert _total(services, runner) == 3
                assert _total(services, runner, in_cluster) == 3
                assert _total(services, runner, stale) == 0

                _behind_the_positions_back(schema, cluster_id)
                assert _total(services, runner) == 3  # kept: not counted again
                assert _total(services, runner, in_cluster) == 3
                # A joined column's filter is counted every time (the join changes untracked).
                assert _total(services, runner, stale) == 1

                _enroll(services, runner, blob["key"])  # a tracked write here
                assert _total(services, runner) == 5
                assert _total(services, runner, in_cluster) == 5

                _behind_the_positions_back(schema, cluster_id)
                _enroll(other, other_runner, blob["key"])  # and one in the other process
                assert _total(services, runner) == 7

                _behind_the_positions_back(schema, cluster_id)
                assert _total(services, runner) == 7
                with psycopg.connect(PG_BASE, autocommit=True) as conn:
                    conn.execute(f'UPDATE "{schema}".fleet_tracking'
                                 " SET notification_id = notification_id")
                assert _total(services, runner) == 8  # same position, rewritten: a new version
            finally:
                for used, loop in ((services, runner), (other, other_runner)):
                    view = used.view
                    assert isinstance(view, PostgresTableView)
                    loop.run(view.aclose())
    finally:
        other.close()
        services.close()


# --- any sequence of tracked writes, untracked ones and lists ---------------------------------
# The joined table written untracked, as liveness is beside nodes.
LOOSE_OWNERS = dataclasses.replace(OWNERS, owned=False)


class CountedView(PostgresTableView):
    tables = (ITEMS, LOOSE_OWNERS)


@pytest.fixture(scope="module")
def counted_view() -> Iterator[CountedView]:
    with pg_schema() as name:
        factory, view = construct_view(CountedView, f"{PG_BASE}?schema={name}")
        assert isinstance(view, CountedView)
        # The reads on the event loop (a view built for serve reads there).
        reading = CountedView(view.datastore, read_pool_size=1,
                              tracking_table_name=view.tracking_table_name)
        try:
            yield reading
        finally:
            factory.close()


def _owner_labelled(num: int, label: str) -> tuple[str, list[Change]]:
    return ("owners", [Upsert(OWNERS.name, {"num": num, "label": label, "score": 0,
                                            "active": True})])


ITEM_IDS = ["a", "b", "c", "d", "e"]
item_rows = st.fixed_dictionaries({
    "id": st.sampled_from(ITEM_IDS), "name": st.sampled_from(["x", "y", None]),
    "n": st.integers(0, 3), "flag": st.booleans(), "owner": st.sampled_from([1, 2, None]),
})
tracked = st.lists(
    st.one_of(item_rows.map(lambda row: Upsert(ITEMS.name, row)),
              st.sampled_from(ITEM_IDS).map(lambda key: Delete(ITEMS.name, {"id": key}))),
    min_size=1, max_size=4).map(lambda changes: ("tracked", changes))
untracked = st.builds(_owner_labelled, st.sampled_from([1, 2]), st.sampled_from(["x", "y"]))
FILTERS = [(), (Cond("name", "eq", "x"),), (Cond("n", "lt", 2),), (Cond("flag", "eq", True),),
           (AnyOf((Cond("name", "null"), Cond("n", "ge", 3))),),
           (Cond("label", "eq", "x"),)]  # a joined column: never kept
lists = st.sampled_from(FILTERS).map(lambda filters: ("list", filters))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(tracked, untracked, lists, lists), min_size=1, max_size=25))
@example([  # a joined row changes untracked between two lists that filter on it
    ("tracked", [Upsert(ITEMS.name, {"id": key, "name": "x", "n": 0, "flag": True,
                                     "owner": owner}) for key, owner in (("a", 1), ("b", 2))]),
    _owner_labelled(1, "x"), _owner_labelled(2, "x"), ("list", (Cond("label", "eq", "x"),)),
    _owner_labelled(1, "y"), ("list", (Cond("label", "eq", "x"),)),
])
def test_every_list_total_is_the_count_at_its_read(
    counted_view: CountedView, steps: list[tuple[str, Any]]
) -> None:
    view = counted_view
    position = [view.max_tracking_id("up") or 0]

    def write(changes: list[Change]) -> None:
        position[0] += 1
        view.apply([(changes, Tracking("up", position[0]))])

    async def run() -> None:
        try:
            write([Delete(ITEMS.name)])
            view.apply_untracked([Delete(OWNERS.name)])
            for kind, value in steps:
                if kind == "tracked":
                    write(value)
                elif kind == "owners":
                    view.apply_untracked(value)
                else:
                    query = ListQuery(value, page_size=2)
                    kept = await view.query_async(ITEMS.name, query)
                    assert kept.total == view.query(ITEMS.name, query).total, value
        finally:
            await view.aclose()

    asyncio.run(run())
