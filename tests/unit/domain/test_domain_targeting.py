"""Targeting (E30/E46): lists by type, deduplication, filter dates, and the stored form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.node_status import NodeStatus
from domain.shared import InvalidValueError
from domain.targeting import ClusterFilters, NodeFilters, Targeting, TargetType, moment_bound


def targeting(**raw: Any) -> Targeting:
    """As the HTTP layer decodes it (JSON builtins into the struct)."""
    return msgspec.convert(raw, Targeting)


def refusal(**raw: Any) -> tuple[str, str | None]:
    with pytest.raises(InvalidValueError) as refused:
        targeting(**raw).checked()
    return refused.value.message, refused.value.field


def test_all_needs_no_list() -> None:
    checked = targeting(type="all").checked()
    assert (checked.type, checked.node_ids, checked.cluster_names) == (TargetType.ALL, None, None)


@pytest.mark.parametrize(("kind", "field"), [("nodes", "node_ids"), ("clusters", "cluster_names")])
def test_the_list_of_the_type_is_required(kind: str, field: str) -> None:
    assert refusal(type=kind) == ("can't be blank", f"targeting.{field}")
    assert refusal(type=kind, **{field: []}) == ("can't be blank", f"targeting.{field}")


@pytest.mark.parametrize(("kind", "extra", "field"), [
    ("all", {"node_ids": [str(uuid4())]}, "node_ids"),
    ("all", {"cluster_names": ["prod"]}, "cluster_names"),
    ("nodes", {"node_ids": [str(uuid4())], "cluster_names": ["prod"]}, "cluster_names"),
    ("clusters", {"cluster_names": ["prod"], "node_ids": [str(uuid4())]}, "node_ids"),
])
def test_a_list_is_only_allowed_for_its_own_type(
    kind: str, extra: dict[str, Any], field: str
) -> None:
    assert refusal(type=kind, **extra) == (
        "is only allowed for its targeting type", f"targeting.{field}")


def test_lists_are_deduplicated_keeping_the_first_order() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    nodes = targeting(type="nodes", node_ids=[str(x) for x in (b, a, b, c, a)]).checked()
    assert nodes.node_ids == [b, a, c]
    clusters = targeting(type="clusters", cluster_names=["west", "east", "west"]).checked()
    assert clusters.cluster_names == ["west", "east"]


@given(st.lists(st.uuids(), min_size=1, max_size=30).flatmap(
    lambda ids: st.lists(st.sampled_from(ids), min_size=1, max_size=60)))
def test_dedup_keeps_each_id_once_in_first_seen_order(ids: list[UUID]) -> None:
    checked = Targeting(type=TargetType.NODES, node_ids=ids).checked()
    assert checked.node_ids is not None
    assert set(checked.node_ids) == set(ids) and len(checked.node_ids) == len(set(ids))
    assert checked.node_ids == sorted(set(ids), key=ids.index)


@pytest.mark.parametrize("value", ["2026-01-01", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00",
                                   "2026-01-01T10:00:00+02:00", "2026-01-01 10:00:00"])
def test_dates_and_datetimes_are_accepted(value: str) -> None:
    targeting(type="all", node_filters={"inserted_at__gte": value, "last_seen_at__lte": value},
              cluster_filters={"updated_at__lte": value}).checked()


@pytest.mark.parametrize(("prefix", "name"), [
    ("node_filters", "inserted_at__gte"), ("node_filters", "last_seen_at__lte"),
    ("node_filters", "updated_at__gte"), ("cluster_filters", "inserted_at__lte"),
    ("cluster_filters", "updated_at__gte"),
])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-02-30", "2026-01-01T25:00"])
def test_bad_dates_name_the_filter(prefix: str, name: str, value: str) -> None:
    message, field = refusal(type="all", **{prefix: {name: value}})
    assert (message, field) == ("must be an ISO 8601 date or datetime",
                                f"targeting.{prefix}.{name}")


def test_a_date_bound_covers_the_whole_day() -> None:
    assert moment_bound("inserted_at__gte", "2026-03-04") == datetime(2026, 3, 4, tzinfo=UTC)
    upper = moment_bound("inserted_at__lte", "2026-03-04")
    assert (upper.date().isoformat(), upper.hour, upper.tzinfo) == ("2026-03-04", 23, UTC)
    assert moment_bound("x__gte", "2026-03-04T05:06:07+01:00") == datetime(
        2026, 3, 4, 4, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize("raw", [
    {"type": "all", "surprise": 1},
    {"type": "all", "node_filters": {"name": "x"}},
    {"type": "all", "cluster_filters": {"node_limit": 3}},
    {"type": "everything"},
    {"type": "all", "node_filters": {"status": "sleepy"}},
    {"type": "all", "cluster_filters": {"node_count__gte": -1}},
    {"node_ids": []},
])
def test_unknown_keys_and_bad_values_are_refused_when_decoding(raw: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, Targeting)


def test_single_cluster_only_for_one_named_cluster() -> None:
    assert targeting(type="clusters", cluster_names=["prod"]).checked().single_cluster() == "prod"
    assert targeting(type="clusters", cluster_names=["prod", "prod"]).checked().single_cluster() \
        == "prod"
    assert targeting(type="clusters", cluster_names=["a", "b"]).checked().single_cluster() is None
    assert targeting(type="all", node_filters={"cluster_name": "prod"}).single_cluster() is None
    assert targeting(type="nodes", node_ids=[str(uuid4())]).single_cluster() is None


def test_stored_form_round_trips_and_omits_what_was_not_sent() -> None:
    node = uuid4()
    original = Targeting(
        type=TargetType.NODES, node_ids=[node],
        node_filters=NodeFilters(status=NodeStatus.HEALTHY, version="1.*"),
        cluster_filters=ClusterFilters(has_node_limit=False),
    ).checked()
    stored = original.as_dict()
    assert stored == {"type": "nodes", "node_ids": [str(node)],
                      "node_filters": {"status": "healthy", "version": "1.*"},
                      "cluster_filters": {"has_node_limit": False}}
    assert Targeting.from_dict(stored) == original
