"""An agent whose state directory's disk is full (a small tmpfs, filled as in
tests/e2e/test_disk_full.py; mounting it needs root: skipped without it). A command whose
output the disk did not take was reported with empty output and no word why; a persistent
agent that could not write its identity.json exited 2, the code for bad settings, though its
settings were fine: it exits 1 (something away or broken) with one line naming the disk."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.agent_fixtures import BIN, DEADLINE, Agents, module_admin
from tests.e2e.test_agent_commands import command, ended
from tests.e2e.test_disk_full import fill, small_disk

pytestmark = pytest.mark.e2e
__all__ = ["small_disk"]  # the fixture
admin = module_admin(postgres=True)
NOT_KEPT = "[edge-agent] output not kept: no space left on device"


def test_output_the_full_disk_did_not_take_is_reported_with_a_note(
    agents: Agents, small_disk: Path
) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    agents.start("full", key, "--state-dir", str(small_disk / "state"),
                 machine_id=f"machine-full-{agents.tmp.name}")
    [node] = agents.healthy(cluster, 1)
    target = {"type": "nodes", "node_ids": [node]}
    filler = small_disk / "filler"
    # The journal takes the command; then the disk is full, and nothing it says is kept.
    filling = command(admin, f"head -c 64m /dev/zero > {filler}; echo after the fill", target)
    [row] = ended(agents, filling, 1).values()
    assert row["status"] == "completed"
    assert row["output"] == NOT_KEPT, row["output"]
    # Once there is room again, outputs are whole and say nothing of the disk.
    filler.unlink()
    later = command(admin, "echo room again", target)
    [row] = ended(agents, later, 1).values()
    assert row["output"] == "room again\n"


def test_a_persistent_agent_without_room_for_its_identity_exits_1_naming_the_disk(
    small_disk: Path, tmp_path: Path
) -> None:
    state = small_disk / "state"
    state.mkdir()
    fill(small_disk / "filler")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ENROLLMENT_KEY": "k",
           "EDGE_AGENT_MACHINE_ID": "machine-without-room"}
    result = subprocess.run(
        [str(BIN / "edge-agent"), "--admin-url", "http://127.0.0.1:9", "--state-dir",
         str(state)], env=env, capture_output=True, text=True, timeout=DEADLINE, check=False)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"edge-agent: the disk of {small_disk} is full"), (
        result.stderr)
    assert str(state / "identity.json") in result.stderr
