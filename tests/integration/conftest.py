"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _pg_available
from tests.integration.test_migrations import Database


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database of each SQL kind (tests of migrations, kills and downgrades)."""
    if request.param == "postgres" and not _pg_available():
        pytest.skip("needs PostgreSQL")
    made = Database(request.param, tmp_path)
    yield made
    made.drop()
