"""Load from wrk (Debian package `wrk`), a separate C process: a Python load generator in one
interpreter saturates long before the server does (httpx collapsed at 64 clients here).

Each workload is a small Lua script: method, path, body and headers, ids picked at random.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def script(api_key: str, method: str, path: str, body: str | None = None,  # noqa: PLR0913
           ids: list[str] | None = None, bearer_ids: bool = False) -> str:
    """Lua for one workload; `{id}` in path or body becomes a random id from `ids`.
    bearer_ids: the ids are tokens, each request bears one (agents' heartbeats)."""
    bearer = ('{["Authorization"] = "Bearer " .. id, ["Content-Type"] = "application/json"}'
              if bearer_ids else "nil")
    lines = [f"wrk.method = {json.dumps(method)}",
             'wrk.headers["Content-Type"] = "application/json"',
             f'wrk.headers["Authorization"] = {json.dumps("Bearer " + api_key)}',
             f"local ids = {{{', '.join(json.dumps(i) for i in ids or ['-'])}}}",
             f"local path, body = {json.dumps(path)}, {json.dumps(body or '')}",
             "request = function()",
             "  local id = ids[math.random(#ids)]",
             '  local b = string.gsub(body, "{id}", id)',
             '  if b == "" then b = nil end',
             f'  return wrk.format(nil, (string.gsub(path, "{{id}}", id)), {bearer}, b)',
             "end"]
    return "\n".join(lines) + "\n"


def run(url: str, lua: str, clients: int, seconds: float) -> dict[str, Any]:
    """requests/s, p50/p99 in ms and the count of non-2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(lua)
    try:
        threads = max(1, min(2, clients))
        done = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency",
             "--timeout", "30s", "-s", handle.name, url],
            capture_output=True, text=True, check=True)
    finally:
        Path(handle.name).unlink()
    return parse(done.stdout)


def parse(output: str) -> dict[str, Any]:
    def latency(percent: str) -> float | None:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(found.group(1)) * _UNITS[found.group(2)] if found else None

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    return {"rate": float(rate.group(1)) if rate else 0.0,
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "errors": int(errors.group(1)) if errors else 0,
            "first_error": [socket_errors.group(0)] if socket_errors else []}
