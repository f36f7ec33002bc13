"""A serve stopped (SIGTERM) with an event stream open ends the stream cleanly and stops: the
client sees the response end (and resumes elsewhere with Last-Event-ID), not a transfer cut off
after uvicorn's graceful-shutdown timeout with a cancelled task's traceback in the log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.agent_fixtures import API_KEY, eventually, started_admin
from tests.e2e.test_database_outage import Stream

pytestmark = pytest.mark.e2e


def test_an_open_event_stream_ends_cleanly_when_the_server_stops(tmp_path: Path) -> None:
    with started_admin(tmp_path) as admin:
        children = admin.children
        stream = Stream(f"{admin.url}/api/v1/events/stream",
                        {"Authorization": f"Bearer {API_KEY}"})
        assert eventually(lambda: stream.status, "the stream's answer", children) == 200
        assert admin.proc is not None
        started = time.monotonic()
        admin.stop()
        took = time.monotonic() - started
        eventually(lambda: stream.ended, "the stream's end", children, timeout=5)
        assert stream.ended == "closed by the server", stream.ended
        log = children.log("admin")
        assert "Cancel" not in log and "Exception in ASGI application" not in log, log[-3000:]
        assert took < 3.0, took  # uvicorn's graceful timeout (3 s) was not waited out
