"""A Docker-API engine for the tests: podman's compatible service on a private socket, with runc
and lowered ulimits (all that starts containers on this machine), and a test image built from
busybox-static, since no registry is reachable."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAGE = "localhost/edge-test/busybox:1"
CONF = """[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
"""


@dataclass(frozen=True)
class Engine:
    url: str
    env: dict[str, str]


def _podman(args: list[str], env: dict[str, str],
            input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:  # noqa: A002
    return subprocess.run(["podman", *args], env=env, check=True, capture_output=True,
                          timeout=120, input=input)


def build_image(env: dict[str, str], folder: Path) -> None:
    """busybox with every applet linked, and a page for httpd to serve."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    root = folder / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "www").mkdir()
    (root / "tmp").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "www" / "index.html").write_text("hello from the edge\n")
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True)
    _podman(["import", "--change", 'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]',
             "--change", 'ENV PATH=/bin', "-", IMAGE], env, input=tar.stdout)


@contextmanager
def podman_engine(folder: Path) -> Iterator[Engine]:
    """podman's Docker-API service on a socket in `folder`, with the test image built; every
    container it labelled for a deployment is removed at the end (bench/resources.py uses it
    too)."""
    conf = folder / "containers.conf"
    conf.write_text(CONF)
    # Private storage: test sessions running at once (several worktrees on one machine) would
    # otherwise see, adopt, stop and remove each other's containers.
    storage = folder / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "overlay"\nrunroot = "{folder}/run"\n'
                       f'graphroot = "{folder}/graph"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
    socket = folder / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert service.poll() is None, "podman system service exited"
            assert time.monotonic() < deadline, "podman socket did not appear"
            time.sleep(0.1)
        build_image(env, folder)
        yield Engine(f"unix://{socket}", env)
    finally:
        service.terminate()
        service.wait(10)
        left = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=edge.request_id"],
                              env=env, capture_output=True, text=True, timeout=60)
        if left.stdout.split():
            subprocess.run(["podman", "rm", "--force", *left.stdout.split()], env=env,
                           capture_output=True, timeout=60)


def podman_present() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if not podman_present():
        pytest.skip("podman and runc are not installed (.ci/run installs them)")
    with podman_engine(tmp_path_factory.mktemp("podman")) as running:
        yield running
