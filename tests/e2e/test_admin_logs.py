"""`edge-admin serve` writes one JSON object per line, and lines written for a request carry its
request id (the client's x-request-id when it sent a sane one)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.contract import HOOKS
from tests.e2e.agent_fixtures import BIN, Children, eventually, free_port

pytestmark = pytest.mark.e2e


def _serve_and_ask(tmp_path: Path, **env_more: str) -> list[dict[str, object]]:
    """One request with x-request-id trace-4711 to a real `edge-admin serve`; its log lines."""
    children = Children(tmp_path / "logs")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "API_KEY": "logs-api-key-0123",
           "DATABASE_URL": f"sqlite:///{tmp_path}/edge.sqlite3", "LOG_FORMAT": "json",
           **env_more}
    argv = ["edge-admin", "serve", "--host", "127.0.0.1", "--port", str(port)]
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
    return [json.loads(line) for line in children.log("admin").splitlines() if line.strip()]


def test_json_lines_with_the_request_id_and_an_access_line(tmp_path: Path) -> None:
    lines = _serve_and_ask(tmp_path)
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    mine = [e for e in lines if e.get("request_id") == "trace-4711"]
    assert len(mine) == 1 and "GET /api/v1/clusters 401" in str(mine[0]["message"])
    assert mine[0]["level"] == "info"
    assert {k: mine[0][k] for k in ("method", "path", "status", "client")} == {
        "method": "GET", "path": "/api/v1/clusters", "status": 401, "client": "127.0.0.1"}
    assert isinstance(mine[0]["duration_ms"], float)
    assert any(str(e["logger"]).startswith("uvicorn") for e in lines)  # uvicorn's own too


def test_access_lines_can_be_turned_off(tmp_path: Path) -> None:
    lines = _serve_and_ask(tmp_path, ACCESS_LOG="false")
    assert lines and not [e for e in lines if e.get("request_id") == "trace-4711"]


def test_the_other_commands_log_as_serve_does(tmp_path: Path) -> None:
    """`replay` (and every command) writes JSON lines by default, text with LOG_FORMAT=text."""
    import subprocess

    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/edge.sqlite3"}
    command = [str(BIN / "edge-admin"), "replay"]
    default = subprocess.run(command, env=base, capture_output=True, text=True,
                             timeout=120, check=True)
    lines = [json.loads(line) for line in default.stderr.splitlines() if line.strip()]
    assert lines and any("applied migration" in str(e["message"]) for e in lines)
    texted = subprocess.run(command, env={**base, "LOG_FORMAT": "text"},
                            capture_output=True, text=True, timeout=120, check=True)
    assert not texted.stderr.lstrip().startswith("{"), texted.stderr
