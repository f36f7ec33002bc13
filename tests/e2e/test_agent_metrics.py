"""A real agent reports its host's figures from /proc and its own counters; the admin serves the
latest (E27-E29), and 503 before any report and once the node is unreachable."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.agent_fixtures import Admin, Agents, agents_of, started_admin

pytestmark = pytest.mark.e2e
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Admin, Agents]]:
    with started_admin(tmp_path / "admin") as admin, agents_of(admin, tmp_path) as agents:
        yield admin, agents


def meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def answered(admin: Admin, path: str) -> httpx.Response | None:
    response = admin.http.get(path)
    return response if response.status_code == 200 else None


def test_agent_reports_real_host_metrics_and_its_counters(fleet: tuple[Admin, Agents]) -> None:
    admin, agents = fleet
    cluster, key = admin.new_cluster()
    agents.start("reporting", key, "--id-type", "random", "--metrics-interval", "1")
    agents.start("quiet", key, "--id-type", "random", "--metrics-interval", "0")
    nodes = agents.healthy(cluster, 2)
    reporting_id = agents.wait(
        lambda: next((n for n in nodes if answered(admin, f"/api/v1/nodes/{n}/metrics/host")),
                     None), "a metrics report")
    quiet_id = next(n for n in nodes if n != reporting_id)
    silent = admin.http.get(f"/api/v1/nodes/{quiet_id}/metrics/host")
    assert silent.status_code == 503, silent.text
    assert silent.json()["error"]["code"] == "service_unavailable"

    host = admin.http.get(f"/api/v1/nodes/{reporting_id}/metrics/host").json()
    assert "data" not in host  # flat, as the seed shows it
    assert host["node_id"] == reporting_id and host["cluster_name"] == cluster
    assert host["cpu"]["cores"] == os.cpu_count()
    assert host["memory"]["total_bytes"] == meminfo_total()
    fs = os.statvfs("/")
    assert host["disk"]["total_bytes"] == fs.f_blocks * fs.f_frsize
    proc_uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(host["uptime"]["seconds"] - proc_uptime) < 30

    # A command run by the agent shows up in its counters on a later report.
    body = {"command_text": "echo counted", "targeting": {"type": "nodes",
                                                           "node_ids": [reporting_id]}}
    admin.data(admin.http.post("/api/v1/commands", json=body))

    def counted() -> dict[str, Any] | None:
        data = admin.data(admin.http.get(f"/api/v1/nodes/{reporting_id}/metrics/agent"))
        return data if data["commands"]["reported_total"] >= 1 else None

    agent = agents.wait(counted, "the command in the agent's counters")
    assert agent["commands"]["completed_total"] >= 1 and agent["commands"]["synced_total"] >= 1
    assert agent["application"]["memory_total_bytes"] > 0
    assert agent["ssh"] == {"authentications_total": 0, "connections_total": 0}
    assert agent["vpn"] is None and agent["proxy"] is None  # no meaning for this agent

    unified = admin.data(admin.http.get(f"/api/v1/nodes/{reporting_id}/metrics"))
    assert unified["host"]["available"] and unified["agent"]["available"]
    assert unified["host"]["cpu"]["cores"] == os.cpu_count()
    assert admin.http.get(f"/api/v1/nodes/{MISSING}/metrics").status_code == 404
    assert admin.http.get("/api/v1/nodes/not-a-uuid/metrics/agent").status_code == 400


def test_metrics_of_an_unreachable_node_are_refused(fleet: tuple[Admin, Agents]) -> None:
    admin, agents = fleet
    cluster, key = admin.new_cluster()
    proc = agents.start("doomed", key, "--metrics-interval", "1")
    [node] = agents.healthy(cluster, 1)
    agents.wait(lambda: answered(admin, f"/api/v1/nodes/{node}/metrics"), "a metrics report")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    def refusal() -> httpx.Response | None:
        response = admin.http.get(f"/api/v1/nodes/{node}/metrics")
        return response if response.status_code == 503 else None

    refused = agents.wait(refusal, "the node's metrics refused")
    assert "unreachable" in refused.json()["error"]["message"]
