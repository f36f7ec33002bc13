"""GET and list of a resource answer the same on every store, whichever way they read.

On PostgreSQL the node reads run on the event loop through their own small pool
(adapters/pg_async_reads.py); on SQLite and memory through worker threads. Each answer here is
held to the record the services read through the threaded path, and a client's read after its
own write must see that write.
"""

from __future__ import annotations

import uuid

import msgspec
import psycopg
import pytest

from entrypoints.http import serializers
from tests.conftest import PG_BASE
from tests.e2e.test_http_support import (
    AUTH,
    add_node,
    create_cluster,
    data,
    error,
    page,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e


def test_get_and_list_agree_with_the_records(any_url: str) -> None:
    with running(any_url) as client:
        ids = [add_node(client, version=f"1.0.{i}") for i in range(7)]
        reads = services_of(client).fleet_reads.nodes
        for node_id in ids:
            record = reads.get(uuid.UUID(node_id))
            assert record is not None
            expected = msgspec.to_builtins(serializers.node(record))
            assert data(client.get(f"/api/v1/nodes/{node_id}", headers=AUTH)) == expected
        rows, pagination = page(client.get("/api/v1/nodes", headers=AUTH, params={
            "page_size": 3, "page": 2, "order_by": "version", "order_directions": "desc"}))
        assert [r["version"] for r in rows] == ["1.0.3", "1.0.2", "1.0.1"]
        assert (pagination["total_count"], pagination["total_pages"]) == (7, 3)
        rows, pagination = page(client.get("/api/v1/nodes", headers=AUTH,
                                           params={"version": "1.0.6"}))
        assert [r["id"] for r in rows] == [ids[6]] and pagination["total_count"] == 1
        rows, pagination = page(client.get("/api/v1/nodes", headers=AUTH,
                                           params={"version": "none"}))
        assert rows == [] and pagination["total_count"] == 0


def test_a_read_after_a_write_sees_it(any_url: str) -> None:
    with running(any_url) as client:
        node_id = add_node(client)
        for i in range(5):
            name = f"moved-{i}"
            create_cluster(client, name)
            changed = client.patch(f"/api/v1/nodes/{node_id}/change_cluster", headers=AUTH,
                                   json={"cluster_name": name})
            assert data(changed)["cluster_name"] == name
            assert data(client.get(f"/api/v1/nodes/{node_id}", headers=AUTH))[
                "cluster_name"] == name
            rows, _ = page(client.get("/api/v1/nodes", headers=AUTH,
                                      params={"cluster_name": name}))
            assert [r["id"] for r in rows] == [node_id]
        assert client.delete(f"/api/v1/nodes/{node_id}", headers=AUTH).status_code == 204
        error(client.get(f"/api/v1/nodes/{node_id}", headers=AUTH), 404, "not_found")


def test_the_read_pool_closes_with_the_app(pg_url: str) -> None:
    app_name = "reads-" + uuid.uuid4().hex[:12]
    with running(pg_url, database_app_name=app_name) as client:
        node_id = add_node(client)
        for _ in range(3):
            data(client.get(f"/api/v1/nodes/{node_id}", headers=AUTH))
        assert held(app_name) >= 2  # the store's pool and the read pool
    assert held(app_name) == 0


def held(app_name: str) -> int:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                           "LIKE %s", (app_name + ":%",)).fetchone()
    return int(row[0]) if row else 0
