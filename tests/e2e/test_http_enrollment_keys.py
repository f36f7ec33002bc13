"""Nodes.EnrollmentKey endpoints (E12-E14, E16-E18): create three ways, get, patch, delete."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    AUTH,
    KEY_FIELDS,
    MISSING,
    UUID_RE,
    create_cluster,
    data,
    error,
    issue_key,
    listed,
    parse_ts,
    running,
)

pytestmark = pytest.mark.e2e
PUBLIC = "/api/v1/clusters/default/enrollment_keys/public"
DEFAULT = "/api/v1/clusters/default/enrollment_keys"
FUTURE = "2099-06-30T12:00:00Z"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running(public_enrollment_key_enabled=True) as c:
        yield c


def decode(blob: str) -> dict[str, str]:
    doc: dict[str, str] = json.loads(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    return doc


def test_created_key_has_every_field_and_a_blob(client: TestClient) -> None:
    key = issue_key(client, "main", name="prod rollout", uses_remaining=5, expired_at=FUTURE)
    assert set(key) == KEY_FIELDS
    assert UUID_RE.match(key["id"])
    assert key["cluster_name"] == "main" and key["name"] == "prod rollout"
    assert key["uses_remaining"] == 5 and key["last_used_at"] is None
    assert parse_ts(key["expired_at"]) == parse_ts(FUTURE)
    blob = decode(key["key"])
    assert set(blob) == {"server", "key"} and blob["key"]
    assert data(client.get(f"/api/v1/enrollment_keys/{key['id']}", headers=AUTH)) == key


def test_uses_remaining_omitted_is_one_and_null_is_unlimited(client: TestClient) -> None:
    single = issue_key(client, "main")
    assert single["uses_remaining"] == 1 and single["expired_at"] is None and single["name"] is None
    assert issue_key(client, "main", uses_remaining=None)["uses_remaining"] is None
    assert issue_key(client, "main", expired_at=None)["expired_at"] is None
    assert single["key"] != issue_key(client, "main")["key"]


def test_empty_body_is_a_default_key(client: TestClient) -> None:
    response = client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH)
    assert data(response, 201)["uses_remaining"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uses_remaining": 0}, "uses_remaining"),
        ({"uses_remaining": -1}, "uses_remaining"),
        ({"uses_remaining": "2"}, "uses_remaining"),
        ({"expired_at": "2000-01-01T00:00:00Z"}, "expired_at"),
        ({"expired_at": "not-a-date"}, "expired_at"),
        ({"name": 5}, "name"),
        ({"cluster_name": "main"}, "cluster_name"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/clusters/main/enrollment_keys", DEFAULT])
def test_create_validation(
    client: TestClient, path: str, body: dict[str, object], field: str
) -> None:
    error(client.post(path, headers=AUTH, json=body), 422, "validation_failed", {field})
    assert listed(client, "/api/v1/enrollment_keys") == []


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_expired_at_without_offset_is_not_a_server_error(client: TestClient, method: str) -> None:
    body = {"expired_at": "2099-01-01T00:00:00"}
    if method == "POST":
        response = client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH, json=body)
    else:
        key = issue_key(client, "main")
        response = client.patch(f"/api/v1/enrollment_keys/{key['id']}", headers=AUTH, json=body)
    assert response.status_code in (200, 201, 422), response.text
    if response.status_code != 422:
        assert parse_ts(data(response, response.status_code)["expired_at"]) == parse_ts(
            "2099-01-01T00:00:00Z")


def test_create_for_unknown_or_malformed_cluster(client: TestClient) -> None:
    error(client.post("/api/v1/clusters/nope/enrollment_keys", headers=AUTH, json={}), 404,
          "not_found")
    error(client.post("/api/v1/clusters/No_Pe/enrollment_keys", headers=AUTH, json={}), 400,
          "bad_request", {"cluster_name"})
    error(client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH, content=b"[]"), 400,
          "bad_request", {"body"})


def test_default_cluster_endpoint(client: TestClient) -> None:
    create_cluster(client, "elsewhere")
    key = data(client.post(DEFAULT, headers=AUTH, json={"name": "d", "uses_remaining": 3}), 201)
    assert key["cluster_name"] == "main" and key["name"] == "d" and key["uses_remaining"] == 3
    assert data(client.post(DEFAULT, headers=AUTH, json={}), 201)["uses_remaining"] == 1
    unlimited = data(client.post(DEFAULT, headers=AUTH, json={"uses_remaining": None}), 201)
    assert unlimited["uses_remaining"] is None
    assert {k["cluster_name"] for k in listed(client, "/api/v1/enrollment_keys")} == {"main"}


def test_public_endpoint_issues_an_unlabeled_single_use_key(client: TestClient) -> None:
    key = data(client.post(PUBLIC), 201)
    assert set(key) == KEY_FIELDS
    assert key["cluster_name"] == "main" and key["name"] is None
    assert key["uses_remaining"] == 1 and key["expired_at"] is None
    assert [k["id"] for k in listed(client, "/api/v1/enrollment_keys", has_name="false")] == [
        key["id"]]


@pytest.mark.parametrize(
    "overrides",
    [
        {"public_enrollment_key_enabled": False},
        {"public_enrollment_key_enabled": True, "default_cluster_name": ""},
        {"public_enrollment_key_enabled": False, "default_cluster_name": ""},
    ],
)
def test_public_endpoint_is_403_unless_enabled_with_a_default(overrides: dict[str, Any]) -> None:
    with running(**overrides) as client:
        error(client.post(PUBLIC), 403, "forbidden")
        error(client.post(PUBLIC, headers=AUTH), 403, "forbidden")
        assert listed(client, "/api/v1/enrollment_keys") == []


def test_default_endpoint_is_403_without_a_default_cluster_name() -> None:
    with running(default_cluster_name="") as client:
        error(client.post(DEFAULT, headers=AUTH, json={}), 403, "forbidden")


def test_default_endpoints_are_404_when_the_default_cluster_is_gone(client: TestClient) -> None:
    assert client.delete("/api/v1/clusters/main", headers=AUTH).status_code == 204
    error(client.post(PUBLIC), 404, "not_found")
    error(client.post(DEFAULT, headers=AUTH, json={}), 404, "not_found")


def test_get_errors(client: TestClient) -> None:
    error(client.get(f"/api/v1/enrollment_keys/{MISSING}", headers=AUTH), 404, "not_found")
    for bad in ("not-a-uuid", "1234", MISSING + "0"):
        error(client.get(f"/api/v1/enrollment_keys/{bad}", headers=AUTH), 400, "bad_request",
              {"id"})


def test_patch_changes_only_present_fields(client: TestClient) -> None:
    key = issue_key(client, "main", name="orig", uses_remaining=4, expired_at=FUTURE)
    path = f"/api/v1/enrollment_keys/{key['id']}"
    renamed = data(client.patch(path, headers=AUTH, json={"name": "renamed"}))
    assert renamed["name"] == "renamed" and renamed["uses_remaining"] == 4
    assert renamed["expired_at"] == key["expired_at"] and renamed["key"] == key["key"]
    assert renamed["inserted_at"] == key["inserted_at"]
    assert parse_ts(renamed["updated_at"]) > parse_ts(key["updated_at"])
    assert listed(client, "/api/v1/enrollment_keys", name="renamed")[0]["id"] == key["id"]
    uses = data(client.patch(path, headers=AUTH, json={"uses_remaining": 9}))
    assert uses["uses_remaining"] == 9 and uses["name"] == "renamed"
    later = data(client.patch(path, headers=AUTH, json={"expired_at": "2100-01-01T00:00:00Z"}))
    assert parse_ts(later["expired_at"]) == parse_ts("2100-01-01T00:00:00Z")
    assert data(client.patch(path, headers=AUTH, json={})) == later
    cleared = data(client.patch(path, headers=AUTH,
                                json={"name": None, "uses_remaining": None, "expired_at": None}))
    assert (cleared["name"], cleared["uses_remaining"], cleared["expired_at"]) == (None, None, None)
    assert data(client.get(path, headers=AUTH)) == cleared


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uses_remaining": 0}, "uses_remaining"),
        ({"expired_at": "2001-01-01T00:00:00Z"}, "expired_at"),
        ({"cluster_name": "main"}, "cluster_name"),
        ({"key": "x"}, "key"),
        ({"last_used_at": None}, "last_used_at"),
    ],
)
def test_patch_validation(client: TestClient, body: dict[str, object], field: str) -> None:
    key = issue_key(client, "main", uses_remaining=2)
    path = f"/api/v1/enrollment_keys/{key['id']}"
    error(client.patch(path, headers=AUTH, json=body), 422, "validation_failed", {field})
    assert data(client.get(path, headers=AUTH)) == key


def test_patch_and_delete_errors(client: TestClient) -> None:
    for method in ("PATCH", "DELETE"):
        missing = client.request(method, f"/api/v1/enrollment_keys/{MISSING}", headers=AUTH,
                                 json={})
        error(missing, 404, "not_found")
        bad = client.request(method, "/api/v1/enrollment_keys/nope", headers=AUTH, json={})
        error(bad, 400, "bad_request", {"id"})


def test_delete_is_permanent(client: TestClient) -> None:
    key = issue_key(client, "main")
    path = f"/api/v1/enrollment_keys/{key['id']}"
    response = client.delete(path, headers=AUTH)
    assert response.status_code == 204 and response.content == b""
    error(client.get(path, headers=AUTH), 404, "not_found")
    error(client.delete(path, headers=AUTH), 404, "not_found")
    error(client.patch(path, headers=AUTH, json={"name": "zombie"}), 404, "not_found")
    assert listed(client, "/api/v1/enrollment_keys") == []


def test_keys_of_a_deleted_cluster_are_gone_for_every_endpoint(client: TestClient) -> None:
    create_cluster(client, "doomed")
    key = issue_key(client, "doomed")
    path = f"/api/v1/enrollment_keys/{key['id']}"
    assert client.delete("/api/v1/clusters/doomed", headers=AUTH).status_code == 204
    error(client.get(path, headers=AUTH), 404, "not_found")
    error(client.patch(path, headers=AUTH, json={"name": "x"}), 404, "not_found")
    error(client.delete(path, headers=AUTH), 404, "not_found")


def test_key_read_your_writes(any_url: str) -> None:
    with running(any_url, public_enrollment_key_enabled=True) as client:
        key = issue_key(client, "main", name="Alpha", uses_remaining=2, expired_at=FUTURE)
        assert listed(client, "/api/v1/enrollment_keys") == [key]
        path = f"/api/v1/enrollment_keys/{key['id']}"
        patched = data(client.patch(path, headers=AUTH, json={
            "expired_at": "2100-02-03T04:05:06Z", "uses_remaining": None, "name": "Beta"}))
        assert listed(client, "/api/v1/enrollment_keys") == [patched]
        assert parse_ts(patched["expired_at"]) == parse_ts("2100-02-03T04:05:06Z")
        public = data(client.post(PUBLIC), 201)
        assert public in listed(client, "/api/v1/enrollment_keys", has_name="false")
        assert client.delete(path, headers=AUTH).status_code == 204
        assert listed(client, "/api/v1/enrollment_keys") == [public]


def test_expired_at_is_returned_in_utc(any_url: str) -> None:
    with running(any_url) as client:
        key = issue_key(client, "main", expired_at="2099-06-30T14:00:00+02:00")
        assert key["expired_at"] == "2099-06-30T12:00:00Z"
        path = f"/api/v1/enrollment_keys/{key['id']}"
        patched = data(client.patch(path, headers=AUTH,
                                    json={"expired_at": "2099-07-01T00:00:00-05:00"}))
        assert patched["expired_at"] == "2099-07-01T05:00:00Z"
        assert listed(client, "/api/v1/enrollment_keys")[0]["expired_at"] == "2099-07-01T05:00:00Z"
