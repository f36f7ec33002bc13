"""A list's count on PostgreSQL is kept while the read model's version stands still, and
counted again once it moves (adapters/postgres_views.py, COUNTS_KEPT): after any tracked
write, here or in another process, after a rewrite of the position row at the same position
(a rebuild that ends where the last one did), never for a filter on a joined table's column.

A row written straight into an owned table, behind the position's back (the service never
does), is what shows whether a count was kept or counted: a kept count does not include it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest

from adapters.postgres_views import PostgresTableView
from application.agent_protocol import EnrollNode
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from entrypoints.bootstrap import Services, build_services
from projections.query import Cond, ListQuery
from tests.conftest import PG_BASE, make_settings, pg_schema

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
