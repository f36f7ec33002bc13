"""The projection-totality state machine of tests/totality.py on PostgreSQL: bigint columns,
NUL-free text and the SQL views' own statements are what the memory store cannot show."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import PG_BASE, _pg_available
from tests.totality import TotalityMachine

pytestmark = pytest.mark.integration


class PostgresTotality(TotalityMachine):
    """Each example gets a fresh schema, dropped when the example ends."""

    def database_url(self) -> str:
        self.schema = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
        return f"{PG_BASE}?schema={self.schema}"

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


PostgresTotality.TestCase.settings = settings(
    max_examples=12, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# TestCase is a class attribute, which mypy cannot subclass: the test names it instead, as the
# memory one does.
test_projections_are_total_on_postgres = pytest.mark.skipif(
    not _pg_available(), reason="PostgreSQL is not reachable"
)(PostgresTotality.TestCase)
