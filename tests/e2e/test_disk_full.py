"""A real `edge-admin serve` whose SQLite database's disk fills up (a small tmpfs, filled by a
file beside the database): writes answer 503 saying that the disk is full, /readyz says so too,
the log says it once rather than once a request, and writes go through again once room is
made, without a restart. Before, the 503 said the database 'broke the statement off', /readyz
said ready while every write failed, and each refusal was a warning. Mounting the tmpfs needs
root: skipped without it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.agent_fixtures import eventually, started_admin

pytestmark = pytest.mark.e2e
FULL = "the database is unavailable (its disk is full); retry"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


def fill(path: Path) -> None:
    """Writes zeros to `path` until the disk takes no more."""
    with open(path, "wb") as out:
        try:
            while True:
                out.write(bytes(1 << 16))
                out.flush()
        except OSError:
            pass


def test_a_full_disk_is_said_and_outlived(small_disk: Path, tmp_path: Path) -> None:
    with started_admin(tmp_path, DATABASE_URL=f"sqlite:///{small_disk}/edge.sqlite3") as server:
        server.new_cluster()
        filler = small_disk / "filler"
        fill(filler)
        names = iter(f"p{n}" for n in range(10_000))

        def create() -> httpx.Response:
            return server.http.post("/projects", json={"name": next(names),
                                                       "description": "x" * 1000})

        def refused() -> bool:  # SQLite first fills the pages it has free
            answer = create()
            if answer.status_code == 201:
                return False
            assert answer.status_code == 503, answer.text
            message = str(answer.json()["error"]["message"])
            # A write whose events fit and whose read-model rows did not says it was recorded.
            assert message == FULL or "was recorded" in message, message
            return message == FULL

        eventually(refused, "a write refused for the full disk", server.children)
        for _ in range(20):
            assert create().status_code == 503
        # Said once, not once a request (280 lines a second under load).
        said = server.children.log("admin").count("database unavailable on")
        assert 1 <= said <= 3, said
        ready = server.http.get("/readyz")
        assert ready.status_code == 503
        assert any("its disk is full" in check for check in ready.json()["checks"].values()), (
            ready.text)
        filler.unlink()
        eventually(lambda: create().status_code == 201, "a write after room was made",
                   server.children)
        eventually(lambda: server.http.get("/readyz").status_code == 200, "ready again",
                   server.children)
