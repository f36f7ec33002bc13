"""Two `edge-admin serve` processes on one PostgreSQL and one NATS: they see each other, agree on
the weak leader and the cluster shards, share background work without doing it twice, switch
to degraded together, and notice a peer that dies or leaves."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract import HOOKS
from tests.e2e.agent_fixtures import Children, eventually, free_port
from tests.integration.webhook_harness import (
    NATS_URL,
    delete_stream,
    nats_available,
    stream_names,
    stream_positions,
)

pytestmark = pytest.mark.integration
API_KEY = "two-admins-api-key-0123456789"
A, B = "admin-aaaaaaaaaaaa", "admin-bbbbbbbbbbbb"
FAST = {"ADMIN_CHECKIN_SECONDS": "0.3", "ADMIN_OFFLINE_AFTER_SECONDS": "1.5",
        "ADMIN_MAX_PEERS": "3", "HEARTBEAT_INTERVAL_SECONDS": "0.3",
        "NODE_UNHEALTHY_AFTER_SECONDS": "1", "NODE_UNREACHABLE_AFTER_SECONDS": "2",
        "SCHEDULER_INTERVAL_SECONDS": "0.2"}


OPEN: list[httpx.Client] = []


class AdminProcess:
    def __init__(self, children: Children, admin_id: str, env: dict[str, str]) -> None:
        self.children, self.name, self.port = children, f"admin-{admin_id}", free_port()
        self.env = {**env, "ADMIN_ID": admin_id}
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10,
                                 event_hooks=HOOKS, headers={"authorization": f"Bearer {API_KEY}"})
        OPEN.append(self.http)
        self.proc: Any = None

    def start(self) -> AdminProcess:
        argv = ["edge-admin", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = self.children.spawn(self.name, argv, self.env)
        eventually(self._ready, f"{self.name} ready", self.children)
        return self

    def _ready(self) -> bool:
        assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}"
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json().get("data") if status < 300 else response.json()

    def cluster(self) -> dict[str, Any]:
        return dict(self.get("/api/v1/admins/my_admin_cluster"))

    def statuses(self) -> dict[str, str]:
        [group] = self.get("/api/v1/admins/admin_clusters")
        return {a["name"]: a["status"] for a in group["admins"]}


@pytest.fixture
def env(pg_url: str) -> Iterator[dict[str, str]]:
    if not nats_available():
        pytest.skip("NATS is not reachable at " + NATS_URL)
    stream, prefix = stream_names()
    yield {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": pg_url, "API_KEY": API_KEY, "ENCRYPTION_KEY": "two-admins-key",
           "NATS_URL": NATS_URL, "NATS_STREAM": stream, "NATS_SUBJECT_PREFIX": prefix,
           "LOG_FORMAT": "json", **FAST}
    delete_stream(stream)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    kids = Children(tmp_path / "logs")
    yield kids
    kids.close()
    while OPEN:
        OPEN.pop().close()


def cluster_with(admin: AdminProcess, total_admins: int) -> dict[str, Any] | None:
    """The admin's view of its cluster once it counts `total_admins`."""
    cluster = admin.cluster()
    return cluster if cluster["total_admins"] == total_admins else None


def degraded(admin: AdminProcess) -> bool:
    return bool(admin.cluster()["degraded"])


def enroll(admin: AdminProcess, cluster: str, count: int) -> list[str]:
    key = admin.post(f"/api/v1/clusters/{cluster}/enrollment_keys", {"uses_remaining": None})
    return [admin.post("/agent/v1/enroll", {"enrollment_key": key["key"]})["node_id"]
            for _ in range(count)]


def test_two_admins_share_one_database_and_one_broker(
    env: dict[str, str], children: Children
) -> None:
    a = AdminProcess(children, "aaaaaaaaaaaa", env).start()
    b = AdminProcess(children, "bbbbbbbbbbbb", env).start()
    for admin in (a, b):
        seen = eventually(partial(cluster_with, admin, 2), f"{admin.name} seeing both admins",
                          children)
        assert seen["weak_leader"] == A and seen["total_edge_capacity"] == 4
        assert [t["name"] for t in seen["topology"]] == [A, B]
    a.post("/api/v1/clusters", {"name": "big"})
    a.post("/api/v1/clusters", {"name": "small"})
    silent = enroll(b, "big", 2) + enroll(a, "small", 1)  # these nodes never heartbeat

    def shards() -> Any:
        mine, theirs = a.get("/api/v1/admins/edge_clusters"), b.get("/api/v1/admins/edge_clusters")
        return mine if mine == theirs and "cluster-small" in str(mine) else None

    agreed = eventually(shards, "both admins agreeing on the shards", children)
    assert sorted(agreed[A]["cluster-big"]) == sorted(silent[:2])  # largest first, ties by name
    assert agreed[B]["cluster-small"] == silent[2:]

    # Both sweepers run; the scheduler lock lets one record each missed-heartbeat transition.
    def all_unreachable() -> bool:
        rows: list[dict[str, Any]] = a.get("/api/v1/nodes", page_size=100)
        return [r["status"] for r in rows].count("unreachable") == 3

    eventually(all_unreachable, "the silent nodes marked unreachable", children)
    for node in silent:
        changes = a.get("/api/v1/events", type="edge.node.status_changed", subject_id=node)
        assert [(e["data"]["previous_status"], e["data"]["status"]) for e in changes] == [
            ("healthy", "unhealthy"), ("unhealthy", "unreachable")]
    # One relay publishes each public event once.
    meta = a.http.get("/api/v1/events", params={"page_size": 1}).json()["meta"]
    total = meta["pagination"]["total_count"]
    eventually(lambda: len(stream_positions(env["NATS_STREAM"])) >= total, "all events on NATS",
               children)
    published = stream_positions(env["NATS_STREAM"])
    assert len(published) == len(set(published)) == total

    # Five nodes, capacity 4: both admins switch to degraded and refuse the gated writes.
    enroll(a, "small", 2)
    for admin in (a, b):
        eventually(partial(degraded, admin), f"{admin.name} degraded", children)
        refused = admin.post("/api/v1/clusters", {"name": "later"}, status=503)
        assert refused["error"]["code"] == "service_unavailable"
    assert a.get("/api/v1/admins/orphaned_clusters") == b.get("/api/v1/admins/orphaned_clusters")
    assert a.get("/api/v1/admins/orphaned_clusters") != {}

    # A dies without a word: B sees it go offline and leads alone.
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(10)
    alone = eventually(partial(cluster_with, b, 1), "B noticing that A is gone", children)
    assert alone["weak_leader"] == B and alone["total_edge_capacity"] == 3
    assert b.statuses() == {A: "offline", B: "online"}
    metrics = b.get("/api/v1/admins/me/metrics")
    assert metrics["metadata"]["degraded"] is True and metrics["metadata"]["orphaned_clusters"] > 0

    # A comes back; B leaves cleanly and A sees it disconnected at once.
    a = AdminProcess(children, "aaaaaaaaaaaa", env).start()
    eventually(lambda: a.cluster()["total_admins"] == 2, "A rejoining", children)
    b.proc.send_signal(signal.SIGTERM)
    b.proc.wait(15)
    assert a.statuses()[B] == "disconnected"
    assert a.cluster()["weak_leader"] == A
