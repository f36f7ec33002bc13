"""The rows a batch's changes determine (projections.committed), with the dialect's `stored`,
are the rows PostgreSQL and SQLite hold after the same changes: U+0000 kept as U+FFFD, times
read back in UTC."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings

from projections.model import Change, Patch, Upsert
from projections.view import TableView
from tests.integration.test_change_order_sql import view  # noqa: F401 - the fixture
from tests.unit.projections.test_change_order import EVENTS, ROW_EVENTS, THINGS
from tests.unit.projections.test_committed_rows import known_rows_agree

pytestmark = pytest.mark.integration


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setup=ROW_EVENTS, events=EVENTS | ROW_EVENTS)
@example(setup=[[]], events=[[  # U+0000 in a row written whole, then in a patch
    Upsert(THINGS.name, {"id": "a", "n": 1, "s": "z\x00", "g": None, "flag": None, "at": None}),
    Patch(THINGS.name, {"id": "a"}, {"g": "\x00"})]])
def test_known_rows_are_the_rows_stored(view: TableView,  # noqa: F811 - the fixture
                                        setup: list[list[Change]],
                                        events: list[list[Change]]) -> None:
    known_rows_agree(view, setup, events, view.dialect.stored)  # type: ignore[attr-defined]
