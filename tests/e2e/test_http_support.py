"""Shared helpers for the HTTP end-to-end tests (this module holds no tests itself).

Nodes only come into existence through the agent enroll endpoint, so the helpers go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from entrypoints.app import create_app
from entrypoints.bootstrap import Services, build_services
from tests.conftest import API_KEY, make_settings
from tests.contract import checking_client
from tests.fakes import FixedClock

MASTER_KEY = "test-master-key-xyz"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MISSING = "00000000-0000-4000-8000-000000000000"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
META_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PAGINATION_KEYS = {
    "has_next", "has_prev", "next_page", "page", "page_size", "prev_page", "total_count",
    "total_pages",
}
CLUSTER_FIELDS = {
    "id", "name", "network_name", "vpn_domain", "ipv4_range", "node_count", "node_limit", "nodes",
    "inserted_at", "updated_at",
}
KEY_FIELDS = {
    "id", "cluster_name", "key", "name", "uses_remaining", "expired_at", "last_used_at",
    "inserted_at", "updated_at",
}
NODE_FIELDS = {
    "api_token", "cluster_name", "host_metrics_port", "http_port", "http_proxy_port", "id",
    "id_type", "inserted_at", "last_seen_at", "mdns_hostname", "netmaker_host_id", "node_name",
    "proxy_password", "self_update_enabled", "socks5_proxy_port", "ssh_port", "status",
    "updated_at", "version", "vpn_hostname", "wireguard_metrics_port",
}
ALIAS_FIELDS = {
    "id", "name", "node_id", "cluster_name", "vpn_hostname", "inserted_at", "updated_at",
}


@contextmanager
def running(
    url: str = "memory://", /, *, clock: FixedClock | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """The app over `url`; with a clock, services are built on it so time moves only by hand.
    Every response is checked against the OpenAPI document (tests/contract.py)."""
    overrides.setdefault("default_cluster_name", "main")
    settings = make_settings(url, **overrides)
    services = build_services(settings, clock) if clock is not None else None
    with checking_client(create_app(settings, services)) as client:
        yield client


def services_of(client: TestClient) -> Services:
    """The services the app's lifespan started (for sweep_once)."""
    app: Starlette = client.app  # type: ignore[assignment]
    found: Services = app.state.services
    return found


def fixed_clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_meta(body: dict[str, Any], response: Any) -> None:
    meta = body["meta"]
    assert meta["request_id"] == response.headers["x-request-id"]
    assert META_TS_RE.match(meta["timestamp"]), meta["timestamp"]


def data(response: Any, status: int = 200) -> Any:
    """Asserts a success envelope with `status` and returns its data."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"data", "meta"}, body
    assert_meta(body, response)
    return body["data"]


# Lists whose meta has members of their own beside the seed's.
OWN_META = {"/api/v1/events": {"position__lte"}}


def page(response: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Asserts a paginated envelope and returns (data, pagination)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "meta"}, body
    assert_meta(body, response)
    own = OWN_META.get(response.request.url.path, set())
    assert set(body["meta"]) == {"request_id", "timestamp", "pagination", *own}
    assert set(body["meta"]["pagination"]) == PAGINATION_KEYS
    return body["data"], body["meta"]["pagination"]


def error(response: Any, status: int, code: str, fields: set[str] | None = None) -> Any:
    """Asserts an error envelope; `fields` must all be keys of error.details."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "meta"}, body
    assert_meta(body, response)
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    details = body["error"]["details"]
    if fields:
        assert isinstance(details, dict), body
        assert fields <= set(details), details
        for messages in details.values():
            assert isinstance(messages, list) and messages
            assert all(isinstance(m, str) for m in messages)
    return details


def create_cluster(client: TestClient, name: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = data(
        client.post("/api/v1/clusters", headers=AUTH, json={"name": name, **fields}), 201
    )
    return result


def issue_key(client: TestClient, cluster: str = "main", **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/clusters/{cluster}/enrollment_keys", headers=AUTH, json=fields)
    result: dict[str, Any] = data(response, 201)
    return result


def enroll(client: TestClient, key: str, status: int = 201, **fields: Any) -> dict[str, Any]:
    """Enrolls an agent; returns the agent response data (node_id, api_token, ...)."""
    result: dict[str, Any] = data(
        client.post("/agent/v1/enroll", json={"enrollment_key": key, **fields}), status
    )
    return result


def add_node(client: TestClient, cluster: str = "main", **fields: Any) -> str:
    """A fresh node in `cluster`, enrolled with a new single-use key; returns its id."""
    key = issue_key(client, cluster)["key"]
    return str(enroll(client, key, **fields)["node_id"])


def get_node(client: TestClient, node_id: str) -> dict[str, Any]:
    result: dict[str, Any] = data(client.get(f"/api/v1/nodes/{node_id}", headers=AUTH))
    return result


def listed(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    rows, _ = page(client.get(path, headers=AUTH, params=params))
    return rows


def names(rows: list[dict[str, Any]], field: str = "name") -> list[Any]:
    return [r[field] for r in rows]
