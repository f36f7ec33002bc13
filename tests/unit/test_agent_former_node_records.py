"""A random agent's record of its node ids: a running agent's are never taken over by another
one sharing the state dir; an ended one's (killed: the kernel drops its lock) are, once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from entrypoints.agent.former_nodes import FOLDER, FormerNodes
from entrypoints.agent.identity import Identity

HOLD = """import sys, uuid, pathlib
from entrypoints.agent.former_nodes import FormerNodes
nodes = FormerNodes(pathlib.Path(sys.argv[1]))
nodes.prepare()
nodes.hold(uuid.UUID(sys.argv[2]))
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def agent_holding(state_dir: Path, node_id: uuid.UUID) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen([sys.executable, "-c", HOLD, str(state_dir), str(node_id)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "held\n"
            yield proc
        finally:
            proc.kill()


def test_only_the_nodes_of_agents_that_ended_are_claimed_and_only_once(tmp_path: Path) -> None:
    running_id, killed_id = uuid.uuid4(), uuid.uuid4()
    with agent_holding(tmp_path, running_id), agent_holding(tmp_path, killed_id) as killed:
        killed.kill()
        killed.wait(10)
        starting = FormerNodes(tmp_path)
        starting.prepare()
        own = uuid.uuid4()
        starting.save(Identity("random", own, "token"))
        assert starting.claim() == {killed_id}
        assert FormerNodes(tmp_path).claim() == set()  # a third start meanwhile: nothing
        starting.forget(killed_id)
        assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == sorted(
            [str(running_id), str(own)])


def test_a_record_keeps_its_nodes_token_and_a_node_left_is_queued_for_clearing(
    tmp_path: Path,
) -> None:
    running = FormerNodes(tmp_path)
    running.prepare()
    first, second = uuid.uuid4(), uuid.uuid4()
    running.save(Identity("random", first, "first-token"))
    assert running.token(first) == "first-token"
    running.save(Identity("random", first, None))  # the admin refused it
    assert running.token(first) is None and running.left.empty()
    running.save(Identity("random", second, "second-token"))  # enrolled again
    assert running.left.get_nowait() == first and running.current == second
    running.forget(first)
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == [str(second)]
