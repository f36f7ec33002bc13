"""The app's lifespan over each persistence kind: default cluster, restarts, clean shutdown."""

from __future__ import annotations

import gc
import warnings

import pytest

from entrypoints.app import create_app
from tests.conftest import make_settings
from tests.contract import checking_client
from tests.e2e.test_http_support import (
    AUTH,
    create_cluster,
    data,
    issue_key,
    listed,
    names,
    running,
)

pytestmark = pytest.mark.e2e


def test_default_cluster_is_created_at_start_and_only_once(any_url: str) -> None:
    with running(any_url) as client:
        main = data(client.get("/api/v1/clusters/main", headers=AUTH))
        assert main["node_count"] == 0 and main["node_limit"] is None
    if any_url == "memory://":
        return
    with running(any_url) as client:
        assert names(listed(client, "/api/v1/clusters", name="main")) == ["main"]
        assert data(client.get("/api/v1/clusters/main", headers=AUTH))["id"] == main["id"]


def test_no_default_cluster_without_the_setting() -> None:
    with running(default_cluster_name="") as client:
        assert listed(client, "/api/v1/clusters") == []


def test_writes_survive_a_restart(any_url: str) -> None:
    if any_url == "memory://":
        pytest.skip("memory:// keeps nothing between processes by design")
    with running(any_url) as client:
        create_cluster(client, "kept", node_limit=4)
        key = issue_key(client, "kept", name="survivor", uses_remaining=None)
    with running(any_url) as client:
        kept = data(client.get("/api/v1/clusters/kept", headers=AUTH))
        assert kept["node_limit"] == 4
        again = data(client.get(f"/api/v1/enrollment_keys/{key['id']}", headers=AUTH))
        assert again == key


def test_shutdown_closes_every_postgres_connection(pg_url: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = checking_client(create_app(make_settings(pg_url, default_cluster_name="main")))
        with client:
            data(client.get("/api/v1/clusters/main", headers=AUTH))
        del client
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
