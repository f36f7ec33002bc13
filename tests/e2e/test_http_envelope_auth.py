"""Envelope, x-request-id and bearer authentication across the whole admin API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from entrypoints.app import create_app
from tests.conftest import API_KEY, make_settings
from tests.e2e.test_http_support import (
    AUTH,
    MASTER_KEY,
    MISSING,
    UUID_RE,
    add_node,
    create_cluster,
    data,
    enroll,
    error,
    issue_key,
    listed,
    names,
    page,
    running,
)

pytestmark = pytest.mark.e2e

API_ROUTES = [
    ("POST", "/api/v1/clusters"),
    ("GET", "/api/v1/clusters"),
    ("GET", "/api/v1/clusters/main"),
    ("PATCH", "/api/v1/clusters/main"),
    ("DELETE", "/api/v1/clusters/main"),
    ("POST", "/api/v1/clusters/default/enrollment_keys"),
    ("POST", "/api/v1/clusters/main/enrollment_keys"),
    ("GET", "/api/v1/enrollment_keys"),
    ("GET", f"/api/v1/enrollment_keys/{MISSING}"),
    ("PATCH", f"/api/v1/enrollment_keys/{MISSING}"),
    ("DELETE", f"/api/v1/enrollment_keys/{MISSING}"),
    ("GET", "/api/v1/nodes"),
    ("GET", f"/api/v1/nodes/{MISSING}"),
    ("DELETE", f"/api/v1/nodes/{MISSING}"),
    ("PATCH", f"/api/v1/nodes/{MISSING}/change_cluster"),
    ("POST", f"/api/v1/nodes/{MISSING}/aliases"),
    ("GET", "/api/v1/aliases"),
    ("GET", f"/api/v1/aliases/{MISSING}"),
    ("DELETE", f"/api/v1/aliases/{MISSING}"),
    ("GET", "/api/v1/does-not-exist"),
]
BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": f"Basic {API_KEY}"},
    {"Authorization": API_KEY},
    {"Authorization": "Bearer "},
    {"Authorization": f"Bearer {API_KEY}x"},
    {"Authorization": f"Bearer {MASTER_KEY[:-1]}"},
]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running() as c:
        yield c


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize("headers", BAD_CREDENTIALS, ids=range(len(BAD_CREDENTIALS)))
def test_every_api_route_needs_a_valid_bearer_key(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={"name": "sneaky"})
    assert error(response, 401, "unauthorized") is None
    assert response.headers["www-authenticate"] == "Bearer"


def test_rejected_writes_change_nothing(client: TestClient) -> None:
    bad = {"Authorization": "Bearer nope"}
    sneaky = client.post("/api/v1/clusters", headers=bad, json={"name": "sneaky"})
    error(sneaky, 401, "unauthorized")
    error(client.delete("/api/v1/clusters/main", headers=bad), 401, "unauthorized")
    assert names(listed(client, "/api/v1/clusters")) == ["main"]


@pytest.mark.parametrize("key", [API_KEY, MASTER_KEY])
def test_api_key_and_master_key_are_both_accepted(client: TestClient, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    created = data(client.post("/api/v1/clusters", headers=headers, json={"name": "k1"}), 201)
    assert created["name"] == "k1"
    rows, _ = page(client.get("/api/v1/clusters", headers=headers))
    assert "k1" in names(rows)
    assert client.delete("/api/v1/clusters/k1", headers=headers).status_code == 204


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    data(client.get("/api/v1/clusters/main", headers={"Authorization": f"bearer {API_KEY}"}))


def test_public_enrollment_endpoint_needs_no_credentials() -> None:
    with running(public_enrollment_key_enabled=True) as client:
        key = data(client.post("/api/v1/clusters/default/enrollment_keys/public"), 201)
        assert key["cluster_name"] == "main"
        wrong = {"Authorization": "Bearer wrong"}
        data(client.post("/api/v1/clusters/default/enrollment_keys/public", headers=wrong), 201)


def test_success_envelope_and_generated_request_id(client: TestClient) -> None:
    response = client.get("/api/v1/clusters/main", headers=AUTH)
    assert data(response)["name"] == "main"
    assert UUID_RE.match(response.headers["x-request-id"])
    other = client.get("/api/v1/clusters/main", headers=AUTH)
    assert other.headers["x-request-id"] != response.headers["x-request-id"]


@pytest.mark.parametrize("rid", ["abc-123", "A.b_c:d-9", "x" * 128])
def test_sane_incoming_request_id_is_echoed_on_success(client: TestClient, rid: str) -> None:
    response = client.get("/api/v1/clusters", headers={**AUTH, "x-request-id": rid})
    page(response)
    assert response.headers["x-request-id"] == rid
    assert response.json()["meta"]["request_id"] == rid


@pytest.mark.parametrize("rid", ["has spaces", "x" * 129, "semi;colon", "slash/es", ""])
def test_insane_request_id_is_replaced(client: TestClient, rid: str) -> None:
    response = client.get("/api/v1/clusters", headers={**AUTH, "x-request-id": rid})
    page(response)
    assert UUID_RE.match(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    [
        ("GET", "/api/v1/clusters", {}, None, 401, "unauthorized"),
        ("GET", "/api/v1/clusters/nope", AUTH, None, 404, "not_found"),
        ("GET", "/api/v1/clusters/NOPE", AUTH, None, 400, "bad_request"),
        ("POST", "/api/v1/clusters", AUTH, {"name": "main"}, 409, "conflict"),
        ("POST", "/api/v1/clusters", AUTH, {"name": "default"}, 422, "validation_failed"),
        ("GET", "/api/v1/clusters?bogus=1", AUTH, None, 400, "bad_request"),
        ("PUT", "/api/v1/clusters", AUTH, None, 405, "method_not_allowed"),
        ("GET", "/api/v1/nowhere", AUTH, None, 404, "not_found"),
        ("POST", "/agent/v1/heartbeat", {}, {}, 401, "unauthorized"),
    ],
)
def test_error_envelope_echoes_request_id(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: object,
    status: int,
    code: str,
) -> None:
    response = client.request(method, path, headers={**headers, "x-request-id": "err-1"}, json=body)
    error(response, status, code)
    assert response.headers["x-request-id"] == "err-1"
    assert response.json()["meta"]["request_id"] == "err-1"
    generated = client.request(method, path, headers=headers, json=body)
    error(generated, status, code)
    assert UUID_RE.match(generated.headers["x-request-id"])


def test_no_content_responses_carry_a_request_id(client: TestClient) -> None:
    create_cluster(client, "gone")
    response = client.delete("/api/v1/clusters/gone", headers={**AUTH, "x-request-id": "del-1"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["x-request-id"] == "del-1"


async def _explode(request: Request) -> Response:
    raise RuntimeError("boom")


def test_unexpected_errors_are_a_500_envelope_with_request_id() -> None:
    app = create_app(make_settings("memory://"))
    app.router.routes.append(Route("/test-only/explode", _explode))
    # A route added for this test only: the document cannot describe it (tests/contract.py).
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/test-only/explode", headers={"x-request-id": "boom-1"})
        error(response, 500, "internal_error")
        assert response.headers.get("x-request-id") == "boom-1"


def test_a_client_leaving_mid_body_is_logged_as_499_not_an_error(
        caplog: pytest.LogCaptureFixture) -> None:
    """An agent whose connection drops while it sends a heartbeat is no server error: no
    response is attempted and nothing is logged at error (it was, with a 500 in the access
    log, under bench.idle_fleet)."""
    with running() as client:
        token = enroll(client, issue_key(client)["key"])["api_token"]
        scope = {"type": "http", "http_version": "1.1", "method": "POST",
                 "path": "/agent/v1/heartbeat", "raw_path": b"/agent/v1/heartbeat",
                 "root_path": "", "query_string": b"", "scheme": "http",
                 "server": ("test", 80), "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"test"), (b"content-type", b"application/json"),
                             (b"content-length", b"100"),
                             (b"authorization", f"Bearer {token}".encode())]}
        arriving = [{"type": "http.request", "body": b'{"sta', "more_body": True},
                    {"type": "http.disconnect"}]
        sent: list[Any] = []

        async def receive() -> Any:
            return arriving.pop(0) if arriving else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        assert client.portal is not None
        with caplog.at_level(logging.INFO):
            client.portal.call(client.app, scope, receive, send)
    assert sent == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(getattr(r, "fields", {}).get("status") == 499 for r in caplog.records)


def test_read_your_writes_across_resources(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "ryw", node_limit=3)
        assert "ryw" in names(listed(client, "/api/v1/clusters"))
        node_id = add_node(client, "ryw", version="1.0.0")
        assert node_id in names(listed(client, "/api/v1/nodes", cluster_name="ryw"), "id")
        cluster = data(client.get("/api/v1/clusters/ryw", headers=AUTH))
        assert cluster["node_count"] == 1 and names(cluster["nodes"], "id") == [node_id]
