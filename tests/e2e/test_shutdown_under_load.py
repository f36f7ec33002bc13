"""Shutting down while background passes run must not close the stores under them.

The scheduler and the status sweeper run their passes in worker threads. They used to be
cancelled at shutdown; a cancelled task leaves its thread running, the stores were then closed
under it, and on SQLite the process died with a segfault (seen in CI). The cycles run in a child
process so a crash fails this test instead of killing the whole run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CYCLES = """
import sys
from starlette.testclient import TestClient
from entrypoints.app import create_app
from tests.conftest import make_settings

folder = sys.argv[1]
for i in range(int(sys.argv[2])):
    settings = make_settings(
        f"sqlite:///{folder}/db{i}.sqlite",
        default_cluster_name="main",
        scheduler_interval=0.0005,
        heartbeat_interval=0.0005,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
print("cycles done")
"""


def test_repeated_start_and_stop_with_busy_background_passes(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", CYCLES, str(tmp_path), "60"],
        cwd=root, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("cycles done")


UNREACHABLE_NATS = """
import sys
from starlette.testclient import TestClient
from entrypoints.app import create_app
from tests.conftest import make_settings

settings = make_settings("memory://", nats_url="nats://127.0.0.1:" + sys.argv[1])
with TestClient(create_app(settings)) as client:
    ready = client.get("/readyz")
    print(ready.status_code, ready.json()["checks"]["broker"])
print("stopped")
"""


def test_not_ready_and_still_stops_when_nats_is_unreachable() -> None:
    """The NATS client retries an unreachable server forever; readiness says so, and neither
    the relay nor the webhook intake holds shutdown while it tries."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", UNREACHABLE_NATS, str(port)],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["503 error: not connected to NATS", "stopped"]
