"""A second `edge-admin serve` that cannot run (its port is taken, or another running admin holds
its ADMIN_ID) stops at once with one line and exit code 1, and records nothing: the running
admin stays online, not degraded, and keeps accepting cluster writes."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.agent_fixtures import Children, free_port
from tests.integration.test_admin_processes import API_KEY, FAST, AdminProcess, children, enroll

pytestmark = pytest.mark.integration
__all__ = ["children"]  # the fixture, shared with the two-admin tests
SETTLE = 2.0  # several check-ins (ADMIN_CHECKIN_SECONDS=0.3): time for any damage to show


@pytest.fixture
def env(pg_url: str) -> Iterator[dict[str, str]]:
    yield {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": pg_url, "API_KEY": API_KEY, "ENCRYPTION_KEY": "startup-key",
           "LOG_FORMAT": "json", **FAST}


def running_admin(children: Children, env: dict[str, str]) -> AdminProcess:
    admin = AdminProcess(children, uuid.uuid4().hex[:12], env).start()
    admin.post("/api/v1/clusters", {"name": "edge"})
    enroll(admin, "edge", 1)  # with a node, losing the only live admin means degraded mode
    assert admin.cluster()["degraded"] is False
    return admin


def second(children: Children, admin: AdminProcess, port: int) -> tuple[int, str]:
    """Starts another serve with the admin's settings on `port`; its exit code and last line."""
    argv = ["edge-admin", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = children.spawn("second", argv, admin.env)
    try:
        code = proc.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the second serve is still running{children.tails()}")
    return code, children.log("second").strip().splitlines()[-1]


def assert_unharmed(admin: AdminProcess) -> None:
    time.sleep(SETTLE)
    assert admin.statuses() == {admin.name: "online"}
    assert admin.cluster()["degraded"] is False
    admin.post("/api/v1/clusters", {"name": "after-" + uuid.uuid4().hex[:6]})  # 201


def test_a_serve_on_a_port_in_use_stops_before_joining(
    env: dict[str, str], children: Children
) -> None:
    admin = running_admin(children, env)
    started = time.monotonic()
    # The same settings, so the same ADMIN_ID (one derived from host and port would be too).
    code, line = second(children, admin, admin.port)
    assert time.monotonic() - started < 15
    assert_unharmed(admin)
    assert code == 1
    assert line == f"edge-admin: cannot listen on 127.0.0.1:{admin.port}: address already in use"


def test_a_serve_with_an_admin_id_in_use_stops_before_joining(
    env: dict[str, str], children: Children
) -> None:
    admin = running_admin(children, env)
    code, line = second(children, admin, free_port())
    assert_unharmed(admin)
    assert code == 1
    admin_id = admin.env["ADMIN_ID"]
    assert line == (f"edge-admin: ADMIN_ID {admin_id} is in use by another running admin on "
                    "this database")
