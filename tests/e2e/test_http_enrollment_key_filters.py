"""GET /api/v1/enrollment_keys (E15): every documented filter, sorting and bad values."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    create_cluster,
    enroll,
    error,
    fixed_clock,
    issue_key,
    listed,
    running,
)

pytestmark = pytest.mark.e2e
HOUR = 3600.0
PATH = "/api/v1/enrollment_keys"
ALL = {"single", "unlimited", "three", "spent", "far", "late"}

# Built by _keys() on a clock that starts at 2026-01-01T12:00Z:
#   single     main       "Prod Rollout"  uses 1                never used
#   unlimited  edge-east  "staging-east"  uses null             used 2026-01-01T14:00Z
#   three      main       (no name)       uses 3, expires 2026-01-01T13:00Z (expired by then)
#   spent      main       "spent one"     uses 0 after one use  used 2026-01-01T12:00Z
#   far        edge-west  "PRODUCTION"    uses 5, expires 2026-03-01T00:00Z
#   late       main       "late"          uses 2, created 2026-01-02T12:00Z
CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"is_spent": "true"}, {"spent"}),
    ({"is_spent": "false"}, ALL - {"spent"}),
    ({"is_unlimited": "true"}, {"unlimited"}),
    ({"is_unlimited": "false"}, ALL - {"unlimited"}),
    ({"is_expired": "true"}, {"three"}),
    ({"is_expired": "false"}, ALL - {"three"}),
    ({"has_name": "true"}, ALL - {"three"}),
    ({"has_name": "false"}, {"three"}),
    ({"has_expiry": "true"}, {"three", "far"}),
    ({"has_expiry": "false"}, ALL - {"three", "far"}),
    ({"is_never_used": "true"}, ALL - {"spent", "unlimited"}),
    ({"is_never_used": "false"}, {"spent", "unlimited"}),
    ({"name": "prod"}, {"single", "far"}),
    ({"name": "ROLL"}, {"single"}),
    ({"name": "PROD*"}, {"single", "far"}),
    ({"name": "*EAST"}, {"unlimited"}),
    ({"name": "*t o*"}, {"spent"}),
    ({"name": "nothing-like-it"}, set()),
    ({"cluster_name": "main"}, {"single", "three", "spent", "late"}),
    ({"cluster_name": "edge-*"}, {"unlimited", "far"}),
    ({"cluster_name": "*west"}, {"far"}),
    ({"cluster_name": "edge"}, set()),
    ({"cluster_name": "MAIN"}, set()),
    ({"uses_remaining": 1}, {"single"}),
    ({"uses_remaining": 3}, {"three"}),
    ({"uses_remaining__gte": 2}, {"three", "far", "late"}),
    ({"uses_remaining__lte": 1}, {"single", "spent"}),
    ({"uses_remaining__gte": 2, "uses_remaining__lte": 3}, {"three", "late"}),
    ({"expired_at__gte": "2026-02-01"}, {"far"}),
    ({"expired_at__lte": "2026-01-01"}, {"three"}),
    ({"expired_at__lte": "2026-01-01T12:59:59Z"}, set()),
    ({"expired_at__gte": "2026-01-01", "expired_at__lte": "2026-03-01"}, {"three", "far"}),
    ({"last_used_at__gte": "2026-01-01T13:00:00Z"}, {"unlimited"}),
    ({"last_used_at__lte": "2026-01-01"}, {"spent", "unlimited"}),
    ({"last_used_at__gte": "2026-01-02"}, set()),
    ({"inserted_at__gte": "2026-01-02"}, {"late"}),
    ({"inserted_at__lte": "2026-01-01"}, ALL - {"late"}),
    ({"updated_at__gte": "2026-01-01T14:00:00Z"}, {"unlimited", "late"}),
    ({"is_spent": "false", "is_unlimited": "false", "is_expired": "false"},
     {"single", "far", "late"}),
    ({"has_name": "true", "is_never_used": "true", "cluster_name": "main"}, {"single", "late"}),
]


def _keys(client: TestClient, clock: Any) -> dict[str, dict[str, Any]]:
    create_cluster(client, "edge-east")
    create_cluster(client, "edge-west")
    keys = {
        "single": issue_key(client, "main", name="Prod Rollout"),
        "unlimited": issue_key(client, "edge-east", name="staging-east", uses_remaining=None),
        "three": issue_key(client, "main", uses_remaining=3, expired_at="2026-01-01T13:00:00Z"),
        "spent": issue_key(client, "main", name="spent one"),
        "far": issue_key(client, "edge-west", name="PRODUCTION", uses_remaining=5,
                         expired_at="2026-03-01T00:00:00Z"),
    }
    enroll(client, keys["spent"]["key"])
    clock.advance(2 * HOUR)
    enroll(client, keys["unlimited"]["key"])
    clock.advance(22 * HOUR)
    keys["late"] = issue_key(client, "main", name="late", uses_remaining=2)
    return keys


def labels(rows: list[dict[str, Any]], keys: dict[str, dict[str, Any]]) -> list[str]:
    by_id = {k["id"]: label for label, k in keys.items()}
    return [by_id[r["id"]] for r in rows]


def test_every_filter_on_every_store(any_url: str) -> None:
    clock = fixed_clock()
    with running(any_url, clock=clock, heartbeat_interval=HOUR) as client:
        keys = _keys(client, clock)
        assert set(labels(listed(client, PATH), keys)) == ALL
        for params, expected in CASES:
            got = labels(listed(client, PATH, **params), keys)
            assert len(got) == len(set(got))
            assert set(got) == expected, params


def test_key_filter_is_exact() -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=HOUR) as client:
        keys = _keys(client, clock)
        blob = keys["far"]["key"]
        assert labels(listed(client, PATH, key=blob), keys) == ["far"]
        assert listed(client, PATH, key=blob[:-2]) == []
        assert listed(client, PATH, key=blob[:10] + "*") == []


def test_filtered_rows_reflect_uses_and_last_used_at() -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=HOUR) as client:
        keys = _keys(client, clock)
        spent = listed(client, PATH, is_spent="true")[0]
        assert spent["uses_remaining"] == 0 and spent["last_used_at"] == "2026-01-01T12:00:00Z"
        unlimited = listed(client, PATH, is_unlimited="true")[0]
        assert unlimited["uses_remaining"] is None
        assert unlimited["last_used_at"] == "2026-01-01T14:00:00Z"
        assert unlimited["id"] == keys["unlimited"]["id"]


@pytest.mark.parametrize(
    ("order_by", "directions", "params", "expected"),
    [
        ("name", "asc", {"has_name": "true"},
         ["PRODUCTION", "Prod Rollout", "late", "spent one", "staging-east"]),
        ("name", "desc", {"has_name": "true"},
         ["staging-east", "spent one", "late", "Prod Rollout", "PRODUCTION"]),
        ("uses_remaining", "desc", {"is_unlimited": "false"}, [5, 3, 2, 1, 0]),
        ("uses_remaining", "asc", {"is_unlimited": "false"}, [0, 1, 2, 3, 5]),
        ("expired_at", "desc", {"has_expiry": "true"},
         ["2026-03-01T00:00:00Z", "2026-01-01T13:00:00Z"]),
        ("last_used_at", "asc", {"is_never_used": "false"},
         ["2026-01-01T12:00:00Z", "2026-01-01T14:00:00Z"]),
        ("cluster_name,uses_remaining", "desc,asc", {"is_unlimited": "false"},
         ["main", "main", "main", "main", "edge-west"]),
    ],
)
def test_sorting(
    order_by: str, directions: str, params: dict[str, str], expected: list[object]
) -> None:
    clock = fixed_clock()
    with running(clock=clock, heartbeat_interval=HOUR) as client:
        _keys(client, clock)
        rows = listed(client, PATH, order_by=order_by, order_directions=directions, **params)
        field = order_by.split(",")[0]
        assert [r[field] for r in rows] == expected
        if order_by == "cluster_name,uses_remaining":
            assert [r["uses_remaining"] for r in rows] == [0, 1, 2, 3, 5]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"is_spent": "maybe"}, "is_spent"),
        ({"is_unlimited": "2"}, "is_unlimited"),
        ({"is_expired": "yes"}, "is_expired"),
        ({"has_name": ""}, "has_name"),
        ({"has_expiry": "nope"}, "has_expiry"),
        ({"is_never_used": "TRUEISH"}, "is_never_used"),
        ({"uses_remaining": "one"}, "uses_remaining"),
        ({"uses_remaining__gte": "1.0"}, "uses_remaining__gte"),
        ({"uses_remaining__lte": "x"}, "uses_remaining__lte"),
        ({"expired_at__gte": "tomorrow"}, "expired_at__gte"),
        ({"expired_at__lte": "2026-13-01"}, "expired_at__lte"),
        ({"last_used_at__gte": "01/02/2026"}, "last_used_at__gte"),
        ({"last_used_at__lte": "2026-01-01T25:00:00Z"}, "last_used_at__lte"),
        ({"key": ""}, "key"),
        ({"name": ""}, "name"),
        ({"cluster_name": ""}, "cluster_name"),
        ({"node_limit": 1}, "node_limit"),
        ({"order_by": "key"}, "order_by"),
        ({"order_by": "id"}, "order_by"),
    ],
)
def test_bad_filter_values_are_400(params: dict[str, Any], field: str) -> None:
    with running() as client:
        details = error(client.get(PATH, headers=AUTH, params=params), 400, "bad_request")
        assert set(details) == {field}


@pytest.mark.parametrize("value", ["true", "false", "TRUE", "False", "1", "0"])
def test_boolean_spellings(value: str) -> None:
    with running() as client:
        issue_key(client, "main", uses_remaining=None)
        expected = 1 if value.lower() in ("true", "1") else 0
        assert len(listed(client, PATH, is_unlimited=value)) == expected


def test_pattern_metacharacters_are_literal_on_every_store(any_url: str) -> None:
    with running(any_url) as client:
        for label in ("50% off", "under_score", "brack[et]", "quest?ion", "back\\slash", "plain"):
            issue_key(client, "main", name=label)
        cases = {
            "%": ["50% off"],
            "_": ["under_score"],
            "UNDER_": ["under_score"],
            "[et]": ["brack[et]"],
            "b*t]": ["brack[et]"],
            "?": ["quest?ion"],
            "\\": ["back\\slash"],
            "*%*": ["50% off"],
        }
        for pattern, expected in cases.items():
            got = sorted(k["name"] for k in listed(client, PATH, name=pattern))
            assert got == expected, pattern
