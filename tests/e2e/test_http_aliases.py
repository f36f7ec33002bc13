"""Nodes.Alias endpoints (E23-E26): create, list filters, get, delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_support import (
    ALIAS_FIELDS,
    AUTH,
    MISSING,
    UUID_RE,
    add_node,
    create_cluster,
    data,
    error,
    listed,
    names,
    parse_ts,
    running,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def client() -> Iterator[TestClient]:
    with running() as c:
        yield c


def create(client: TestClient, node_id: str, name: object) -> Any:
    return client.post(f"/api/v1/nodes/{node_id}/aliases", headers=AUTH, json={"name": name})


def test_create_returns_every_field_and_the_fqdn(client: TestClient) -> None:
    create_cluster(client, "prod")
    node_id = add_node(client, "prod")
    alias = data(create(client, node_id, "web-server"), 201)
    assert set(alias) == ALIAS_FIELDS
    assert UUID_RE.match(alias["id"])
    assert alias["name"] == "web-server" and alias["node_id"] == node_id
    assert alias["cluster_name"] == "prod"
    assert alias["vpn_hostname"] == "node-web-server.cluster-prod.nm.internal"
    assert parse_ts(alias["inserted_at"]) == parse_ts(alias["updated_at"])
    assert data(client.get(f"/api/v1/aliases/{alias['id']}", headers=AUTH)) == alias
    assert listed(client, "/api/v1/aliases") == [alias]


def test_a_node_may_have_several_aliases(client: TestClient) -> None:
    node_id = add_node(client)
    for name in ("a", "b-2", "x" * 63):
        data(create(client, node_id, name), 201)
    listed_names = names(listed(client, "/api/v1/aliases", node_id=node_id))
    assert sorted(listed_names) == ["a", "b-2", "x" * 63]


def test_alias_names_are_unique_per_cluster(client: TestClient) -> None:
    create_cluster(client, "other")
    first, neighbour, elsewhere = add_node(client), add_node(client), add_node(client, "other")
    data(create(client, first, "db"), 201)
    error(create(client, first, "db"), 409, "conflict", {"name"})
    error(create(client, neighbour, "db"), 409, "conflict", {"name"})
    other = data(create(client, elsewhere, "db"), 201)
    assert other["vpn_hostname"] == "node-db.cluster-other.nm.internal"
    assert sorted(names(listed(client, "/api/v1/aliases", name="db"), "cluster_name")) == [
        "main", "other"]


@pytest.mark.parametrize(
    "name",
    ["Web", "web_server", "-web", "web-", "a.b", "x" * 64, "", 12, None,
     "01234567-89ab-cdef-0123-456789abcdef"],
)
def test_invalid_names_are_422(client: TestClient, name: object) -> None:
    node_id = add_node(client)
    error(create(client, node_id, name), 422, "validation_failed", {"name"})
    assert listed(client, "/api/v1/aliases") == []


def test_body_errors(client: TestClient) -> None:
    node_id = add_node(client)
    path = f"/api/v1/nodes/{node_id}/aliases"
    error(client.post(path, headers=AUTH, json={}), 422, "validation_failed", {"name"})
    error(client.post(path, headers=AUTH, json={"name": "ok", "ttl": 5}), 422,
          "validation_failed", {"ttl"})
    error(client.post(path, headers=AUTH, content=b"name=ok"), 400, "bad_request", {"body"})
    error(client.post(path, headers=AUTH, content=b'["ok"]'), 400, "bad_request", {"body"})


def test_unknown_or_malformed_node(client: TestClient) -> None:
    error(create(client, MISSING, "web"), 404, "not_found")
    error(create(client, "node-1", "web"), 400, "bad_request", {"node_id"})


def test_list_filters_on_every_store(any_url: str) -> None:
    with running(any_url) as client:
        create_cluster(client, "prod-east")
        create_cluster(client, "staging")
        one, two, three = add_node(client, "prod-east"), add_node(client, "prod-east"), add_node(
            client, "staging")
        for node_id, alias in [(one, "web"), (one, "api"), (two, "web-2"), (three, "web")]:
            data(create(client, node_id, alias), 201)
        cases: list[tuple[dict[str, Any], list[str]]] = [
            ({"cluster_name": "prod-east"}, ["api", "web", "web-2"]),
            ({"cluster_name": "prod*"}, ["api", "web", "web-2"]),
            ({"cluster_name": "*ing"}, ["web"]),
            ({"cluster_name": "prod"}, []),
            ({"name": "web"}, ["web", "web"]),
            ({"name": "web*"}, ["web", "web", "web-2"]),
            ({"name": "*2"}, ["web-2"]),
            ({"name": "WEB"}, []),
            ({"node_id": one}, ["api", "web"]),
            ({"node_id": MISSING}, []),
            ({"node_id": three, "name": "web", "cluster_name": "staging"}, ["web"]),
        ]
        for params, expected in cases:
            assert sorted(names(listed(client, "/api/v1/aliases", **params))) == expected, params
        rows = listed(client, "/api/v1/aliases", order_by="name,cluster_name",
                      order_directions="desc,desc")
        assert [(r["name"], r["cluster_name"]) for r in rows] == [
            ("web-2", "prod-east"), ("web", "staging"), ("web", "prod-east"), ("api", "prod-east")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"node_id": "nope"}, "node_id"),
        ({"name": ""}, "name"),
        ({"vpn_hostname": "x"}, "vpn_hostname"),
        ({"order_by": "vpn_hostname"}, "order_by"),
    ],
)
def test_bad_list_filters(client: TestClient, params: dict[str, str], field: str) -> None:
    error(client.get("/api/v1/aliases", headers=AUTH, params=params), 400, "bad_request", {field})


def test_get_errors(client: TestClient) -> None:
    error(client.get(f"/api/v1/aliases/{MISSING}", headers=AUTH), 404, "not_found")
    error(client.get("/api/v1/aliases/web", headers=AUTH), 400, "bad_request", {"id"})


def test_delete_then_gone_and_name_reusable(any_url: str) -> None:
    with running(any_url) as client:
        node_id = add_node(client)
        alias = data(create(client, node_id, "www"), 201)
        path = f"/api/v1/aliases/{alias['id']}"
        response = client.delete(path, headers=AUTH)
        assert response.status_code == 204 and response.content == b""
        error(client.get(path, headers=AUTH), 404, "not_found")
        error(client.delete(path, headers=AUTH), 404, "not_found")
        assert listed(client, "/api/v1/aliases") == []
        again = data(create(client, node_id, "www"), 201)
        assert again["id"] != alias["id"] and listed(client, "/api/v1/aliases") == [again]
        error(client.delete(f"/api/v1/aliases/{MISSING}", headers=AUTH), 404, "not_found")
        error(client.delete("/api/v1/aliases/www", headers=AUTH), 400, "bad_request", {"id"})
