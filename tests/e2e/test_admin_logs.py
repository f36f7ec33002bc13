"""`edge-admin serve` writes one JSON object per line, and lines written for a request carry its
request id (the client's x-request-id when it sent a sane one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.contract import HOOKS
from tests.e2e.test_agent_process import Children, eventually, free_port

pytestmark = pytest.mark.e2e


def test_json_lines_with_the_request_id(tmp_path: Path) -> None:
    children = Children(tmp_path / "logs")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "API_KEY": "logs-api-key-0123",
           "DATABASE_URL": f"sqlite:///{tmp_path}/edge.sqlite3", "LOG_FORMAT": "json"}
    argv = ["edge-admin", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "debug"]
    proc = children.spawn("admin", argv, env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          event_hooks=HOOKS) as http:
            def up() -> bool:
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            eventually(up, "answer from /healthz", children)
            answer = http.get("/api/v1/clusters", headers={"x-request-id": "trace-4711"})
            assert answer.status_code == 401 and answer.headers["x-request-id"] == "trace-4711"
        proc.terminate()
        proc.wait(15)
    finally:
        children.close()
    lines = [json.loads(line) for line in children.log("admin").splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    mine = [e for e in lines if e.get("request_id") == "trace-4711"]
    assert mine and "GET /api/v1/clusters 401" in mine[0]["message"]
    assert any(e["logger"].startswith("uvicorn") for e in lines)  # uvicorn's own lines too
