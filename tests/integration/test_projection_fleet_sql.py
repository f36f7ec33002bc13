"""The fleet scenarios of tests/unit/projections/test_projection_fleet.py, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.postgres_views import PostgresFleetView
from projections.view import TableView
from tests.unit.projections.test_projection_fleet import (  # noqa: F401 - collected here too
    fleet,
    sql_fleet_view,
    test_cluster_delete_removes_its_keys_and_no_others,
    test_cluster_rows_count_admitted_and_released_nodes,
    test_events_without_a_read_model_still_advance_the_position,
    test_ids_are_uuids_in_every_view,
    test_key_delete_removes_only_that_key,
    test_key_updates_patch_only_the_changed_fields,
    test_key_uses_count_down_and_unlimited_keys_stay_unlimited,
    test_moves_follow_the_node_and_its_aliases,
    test_node_delete_removes_its_row_and_liveness,
    test_node_row_carries_defaults_ports_and_liveness,
    test_reregistration_patches_and_liveness_only_moves_forward,
    test_the_same_position_is_applied_at_most_once,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def view(pg_url: str) -> Iterator[TableView]:
    factory, postgres = sql_fleet_view(PostgresFleetView, pg_url)
    yield postgres
    factory.close()
