"""The deployment finder's batched reads answer as one read per deployment would, on every
store: a node's work poll reads the runtime of all its ready containers at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.deployment_finder import RUNTIMES_PER_READ, ViewDeploymentFinder
from adapters.memory_views import MemoryTableView
from adapters.postgres_views import PostgresFleetView
from adapters.sqlite_views import SQLiteFleetView
from application.ports import DeploymentRuntime
from projections.fleet_tables import FLEET_TABLES
from projections.model import Upsert
from projections.runtime_controls import RUNTIMES
from projections.view import TableView
from tests.conftest import PG_BASE, pg_schema
from tests.unit.projections.test_query_sqlite import construct_view

pytestmark = pytest.mark.integration
AT = datetime(2026, 12, 3, tzinfo=UTC)
# More deployments than one statement asks for, each with or without a runtime row.
STORED = [(uuid.UUID(int=n + 1), n % 3 != 0) for n in range(RUNTIMES_PER_READ + 30)]


def runtime_of(deployment: uuid.UUID) -> DeploymentRuntime:
    n = deployment.int
    return DeploymentRuntime(resource_id=uuid.UUID(int=10_000 + n),
                             desired="stopped" if n % 2 else "running",
                             attempt_id=uuid.UUID(int=20_000 + n) if n % 5 else None)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TableView]]:
    closing = []
    with pg_schema() as schema:
        pg_factory, pg = construct_view(PostgresFleetView, f"{PG_BASE}?schema={schema}")
        path = Path(tmp_path_factory.mktemp("finder")) / "fleet.sqlite3"
        sqlite_factory, sqlite = construct_view(SQLiteFleetView, f"sqlite:///{path}")
        closing += [pg_factory, sqlite_factory]
        every = [MemoryTableView(FLEET_TABLES), pg, sqlite]
        for view in every:
            view.apply_untracked([
                Upsert(RUNTIMES.name, {"deployment_id": d, "updated_at": AT,
                                       **{k: getattr(runtime_of(d), k)
                                          for k in ("resource_id", "desired", "attempt_id")}})
                for d, stored in STORED if stored])
        try:
            yield every
        finally:
            for factory in closing:
                factory.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([d for d, _ in STORED] + [uuid.uuid4()]), max_size=180))
def test_runtimes_of_many_is_each_ones_runtime(views: list[TableView],
                                               asked: list[uuid.UUID]) -> None:
    stored = {d for d, kept in STORED if kept}
    want = {d: runtime_of(d) for d in asked if d in stored}
    for view in views:
        assert ViewDeploymentFinder(view).runtimes_of(asked) == want, type(view).__name__


def test_runtimes_of_every_deployment_takes_more_than_one_read(views: list[TableView]) -> None:
    asked = [d for d, _ in STORED] + [uuid.uuid4()]
    want = {d: runtime_of(d) for d, kept in STORED if kept}
    assert len(asked) > RUNTIMES_PER_READ
    for view in views:
        assert ViewDeploymentFinder(view).runtimes_of(asked) == want, type(view).__name__


def test_runtimes_of_awaited_answers_the_same(views: list[TableView]) -> None:
    asked = [d for d, _ in STORED] + [uuid.uuid4()]
    want = {d: runtime_of(d) for d, kept in STORED if kept}

    async def read(view: TableView) -> dict[uuid.UUID, DeploymentRuntime]:
        try:
            return await ViewDeploymentFinder(view).runtimes_of_async(asked)
        finally:
            aclose = getattr(view, "aclose", None)
            if aclose is not None:  # this loop's read pool (adapters/pg_async_reads)
                await aclose()

    for view in views:
        assert asyncio.run(read(view)) == want, type(view).__name__
