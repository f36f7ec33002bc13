"""The agent's SSH host key: created once, private (0600), the same after a restart."""

from __future__ import annotations

import stat
from pathlib import Path

from entrypoints.agent.ssh_server import HOST_KEY_FILE, host_key


def test_a_persistent_agent_keeps_its_host_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = host_key(state)
    path = state / HOST_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.algorithm == b"ssh-ed25519"
    again = host_key(state)
    assert again.get_fingerprint("sha256") == first.get_fingerprint("sha256")
    assert not list(state.glob("*.tmp"))


def test_a_random_agent_writes_nothing(tmp_path: Path) -> None:
    one, two = host_key(None), host_key(None)
    assert one.get_fingerprint("sha256") != two.get_fingerprint("sha256")
    assert not list(tmp_path.iterdir())
