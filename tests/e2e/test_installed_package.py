"""The package as a user installs it (`pip install .`, not editable) serves its documents: a
wheel is built, unpacked outside the repository and run from there."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_installed_wheel_serves_its_documents(tmp_path: Path) -> None:
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "edge-data", ".pytest_cache",
        ".hypothesis"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True,
                   cwd=tmp_path, timeout=300)
    [wheel] = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    # The installed copy comes first on the path; the dependencies come from this interpreter.
    env = {**os.environ, "PYTHONPATH": str(target), "DATABASE_URL": "memory://",
           "API_KEY": API_KEY}
    probe = "import entrypoints; print(entrypoints.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], env=env, cwd=work,
                           capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(target)), where.stdout
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port)], env=env,
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        document = httpx.get(f"{base}/openapi.json", timeout=10)
        assert document.status_code == 200
        assert document.json() == json.loads((ROOT / "schemas" / "openapi.json").read_text())
        asyncapi = httpx.get(f"{base}/asyncapi.yaml", timeout=10)
        assert asyncapi.status_code == 200
        assert asyncapi.content == (ROOT / "schemas" / "asyncapi.yaml").read_bytes()
        page = httpx.get(f"{base}/swaggerui", timeout=10)
        assert page.status_code == 200 and "/openapi.json" in page.text
        assert httpx.get(f"{base}/asyncdoc", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
