"""A `random` agent given a state dir keeps its journal there, per node: killed (-9) while a
command runs, it is a new node at its next start, which reports the command interrupted for the
former node (it used to stay `sent` until the admin expired it, while what it had started ran
on) and kills what is left of it. Another agent on the same state dir leaves a running one's
commands alone; a former node deleted meanwhile has nothing reported. Real admin, real agents.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent_fixtures import Agents, module_admin
from tests.e2e.test_agent_commands import alive, command, ended, sent

pytestmark = pytest.mark.e2e
# The default grace: an execution of a node that went away stays `sent` for 15 minutes.
admin = module_admin(SCHEDULER_INTERVAL_SECONDS="0.2", AGENT_POLL_RECHECK_SECONDS="1")


def start(agents: Agents, name: str, key: str) -> subprocess.Popen[bytes]:
    return agents.start(name, key, "--id-type", "random", "--state-dir",
                        str(agents.tmp / "state"))


def records(agents: Agents) -> set[str]:
    return {p.name for p in (agents.tmp / "state" / "random-nodes").iterdir()}


def background_command(agents: Agents, node: str, name: str) -> tuple[str, int]:
    """A command whose shell's child outlives the shell; its id and the child's pid."""
    pid_file = agents.tmp / f"{name}.pid"
    script = f"echo partial\nsleep 120 & echo $! > {pid_file}\nwait"
    command_id = command(agents.admin, script, {"type": "nodes", "node_ids": [node]})
    sent(agents, command_id)
    pid = agents.wait(lambda: pid_file.read_text() if pid_file.exists() else None, "a pid")
    return command_id, int(pid)


@contextlib.contextmanager
def killed_at_the_end(pid: int) -> Iterator[int]:
    try:
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_command_cut_short_by_a_crash_is_reported_for_the_former_node(
    agents: Agents,
) -> None:
    cluster, key = agents.admin.new_cluster()
    first = start(agents, "r", key)
    [old] = agents.healthy(cluster, 1)
    command_id, pid = background_command(agents, old, "old")
    with killed_at_the_end(pid):
        first.kill()
        assert first.wait(10) == -signal.SIGKILL
        start(agents, "r", key)
        [row] = ended(agents, command_id, 1).values()
        assert (row["node_id"], row["status"], row["exit_code"]) == (old, "completed", 137)
        assert row["output"].startswith("partial\n")
        assert "interrupted: the agent stopped while this command ran" in row["output"]
        agents.wait(lambda: not alive(pid), "what the command left behind killed")
    [new] = set(agents.admin.nodes(cluster)) - {old}
    # The former node's record and journal go once reported; the new node's are there.
    agents.wait(lambda: records(agents) == {new, f"{new}.executions"}, "the old record gone")


def test_a_second_agent_on_the_state_dir_leaves_a_running_ones_commands_alone(
    agents: Agents,
) -> None:
    cluster, key = agents.admin.new_cluster()
    start(agents, "one", key)
    [node] = agents.healthy(cluster, 1)
    go = agents.tmp / "go"
    command_id = command(agents.admin, f"echo waiting\nwhile [ ! -e {go} ]; do sleep 0.1; done",
                         {"type": "nodes", "node_ids": [node]})
    sent(agents, command_id)
    start(agents, "two", key)
    agents.healthy(cluster, 2)
    go.touch()
    [row] = ended(agents, command_id, 1).values()
    assert (row["status"], row["exit_code"], row["output"]) == ("completed", 0, "waiting\n")
    assert len(records(agents)) == 4  # two nodes, each with its journal


def test_a_deleted_former_nodes_command_is_not_reported_but_what_it_left_is_killed(
    agents: Agents,
) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    first = start(agents, "r", key)
    [old] = agents.healthy(cluster, 1)
    command_id, pid = background_command(agents, old, "gone")
    with killed_at_the_end(pid):
        first.kill()
        assert first.wait(10) == -signal.SIGKILL
        assert admin.http.delete(f"/api/v1/nodes/{old}").status_code == 204
        start(agents, "r", key)
        agents.wait(lambda: not alive(pid), "what the command left behind killed")
    agents.wait(lambda: old not in records(agents), "the old record gone")
    rows: dict[str, Any] = ended(agents, command_id, 1)
    [row] = rows.values()
    assert (row["status"], row["exit_code"]) == ("cancelled", None)
    assert "dropping it" in agents.children.log("r")
