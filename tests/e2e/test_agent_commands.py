"""Real `edge-agent` processes running commands for a real `edge-admin serve` on PostgreSQL:
outputs and exit codes, cancel, expiry, timeout, an agent killed mid-command (restarted, or
gone for good), and a self-update that re-executes the agent with a new version."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_fixtures import (
    Admin,
    Agents,
    agents_of,
    eventually,
    module_admin,
    pg_admin,
)

pytestmark = pytest.mark.e2e
admin = module_admin(postgres=True)


def start(agents: Agents, name: str, key: str, *args: str,
          version: str = "1.0.0") -> subprocess.Popen[bytes]:
    """A persistent agent with its own state dir (identity and execution journal)."""
    return agents.start(name, key, "--state-dir", str(agents.tmp / name), *args,
                        version=version, machine_id=f"machine-{name}-{agents.tmp.name}")


def command(admin: Admin, text: str, targeting: dict[str, Any], **fields: Any) -> str:
    body = {"command_text": text, "targeting": targeting, **fields}
    return str(admin.data(admin.http.post("/api/v1/commands", json=body))["id"])


def executions(admin: Admin, command_id: str) -> dict[str, dict[str, Any]]:
    rows = admin.data(admin.http.get("/api/v1/command_executions",
                                     params={"command_id": command_id, "page_size": 100}))
    return {row["node_id"] or row["id"]: row for row in rows}


def ended(agents: Agents, command_id: str, count: int) -> dict[str, dict[str, Any]]:
    def check() -> dict[str, dict[str, Any]] | None:
        rows = executions(agents.admin, command_id)
        done = [r for r in rows.values() if r["status"] not in ("pending", "sent")]
        return rows if len(rows) == count and len(done) == count else None

    return agents.wait(check, f"{count} finished execution(s) of {command_id}")


def sent(agents: Agents, command_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        [row] = executions(agents.admin, command_id).values()
        return row if row["status"] == "sent" else None

    return agents.wait(check, f"command {command_id} sent")


def test_command_by_cluster_with_filters_runs_on_the_matching_agents(agents: Agents) -> None:
    admin = agents.admin
    east, east_key = admin.new_cluster()
    west, west_key = admin.new_cluster()
    start(agents, "a", east_key)
    start(agents, "b", east_key, version="2.0.0")
    start(agents, "c", west_key)
    nodes = {**agents.healthy(east, 2), **agents.healthy(west, 1)}
    old = {n for n, row in nodes.items() if row["version"] == "1.0.0"}
    script = "echo out-$((40 + 2))\necho err >&2\nhostname >/dev/null\nexit 3"
    command_id = command(admin, script, {
        "type": "clusters", "cluster_names": [east, west], "node_filters": {"version": "1.*"}})
    rows = ended(agents, command_id, 2)
    assert set(rows) == old
    for row in rows.values():
        assert row["status"] == "completed" and row["exit_code"] == 3
        assert row["output"] == "out-42\nerr\n"
        assert row["sent_at"] <= row["completed_at"]


def test_cancel_timeout_and_expiry(agents: Agents) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    start(agents, "d", key)
    [node] = agents.healthy(cluster, 1)
    target = {"type": "nodes", "node_ids": [node]}
    long_one = command(admin, "echo begun; exec sleep 30", target)
    row = sent(agents, long_one)
    cancel = admin.http.patch(f"/api/v1/command_executions/{row['id']}/cancel")
    assert admin.data(cancel) == {"result": "cancellation request sent"}
    [cancelled] = ended(agents, long_one, 1).values()
    assert cancelled["status"] == "cancelled" and cancelled["exit_code"] == 143
    assert cancelled["output"].startswith("begun\n")
    timed = command(admin, "exec sleep 30", target, timeout=500)
    [timed_out] = ended(agents, timed, 1).values()
    assert timed_out["status"] == "completed" and timed_out["exit_code"] == 124
    assert "timed out after 500 ms" in timed_out["output"]
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = command(admin, "exec sleep 30", target, expired_at=soon)
    [expired] = ended(agents, expiring, 1).values()
    assert expired["status"] == "expired" and expired["completed_at"] is None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_an_agent_stopped_mid_command_reports_it_interrupted_and_leaves_nothing_running(
    agents: Agents, how: signal.Signals,
) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    proc = start(agents, "e", key)
    [node] = agents.healthy(cluster, 1)
    target = {"type": "nodes", "node_ids": [node]}
    pid_file = agents.tmp / "background.pid"
    # Not `exec`: the shell's own child outlives the shell unless the agent sees to it.
    script = f"echo partial\nsleep 120 & echo $! > {pid_file}\nwait"
    command_id = command(admin, script, target)
    sent(agents, command_id)
    background = int(agents.wait(lambda: pid_file.read_text() if pid_file.exists() else None,
                                 "a pid"))
    try:
        proc.send_signal(how)
        assert proc.wait(10) == (0 if how == signal.SIGTERM else -signal.SIGKILL)
        if how == signal.SIGKILL:
            start(agents, "e", key)
        [row] = ended(agents, command_id, 1).values()
        assert row["status"] == "completed" and row["exit_code"] == 137
        assert row["output"].startswith("partial\n")
        assert "interrupted: the agent stopped while this command ran" in row["output"]
        eventually(lambda: not alive(background), "the background sleep gone", agents.children,
                   timeout=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(background, signal.SIGKILL)


def test_a_cancel_asked_while_the_agent_was_down_ends_cancelled_after_its_restart(
    agents: Agents,
) -> None:
    # The command never finished: the agent died with it (its group killed) and reports it
    # interrupted (137) on restart. A cancel asked meanwhile is what the operator wanted.
    admin = agents.admin
    cluster, key = admin.new_cluster()
    proc = start(agents, "k", key)
    [node] = agents.healthy(cluster, 1)
    # Killed only once the command runs: killed between the hand-out and the agent's journal,
    # it never ran, and the cancel rightly ends it with no exit code.
    running = agents.tmp / "cancel-running"
    command_id = command(admin, f"echo begun; touch {running}; exec sleep 120",
                         {"type": "nodes", "node_ids": [node]})
    row = sent(agents, command_id)
    agents.wait(lambda: running.exists() or None, "the command running")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    cancel = admin.http.patch(f"/api/v1/command_executions/{row['id']}/cancel")
    assert admin.data(cancel) == {"result": "cancellation request sent"}
    start(agents, "k", key)
    [ended_row] = ended(agents, command_id, 1).values()
    assert (ended_row["status"], ended_row["exit_code"]) == ("cancelled", 137)
    assert "interrupted: the agent stopped while this command ran" in ended_row["output"]
    events = admin.data(admin.http.get("/api/v1/events", params={
        "type": "edge.command_execution.cancelled", "subject_id": row["id"]}))
    assert "interrupted" in events[0]["data"]["reason"]


def test_work_of_an_agent_that_never_comes_back_expires(agents: Agents) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    proc = start(agents, "f", key)
    [node] = agents.healthy(cluster, 1)
    command_id = command(admin, "exec sleep 60", {"type": "nodes", "node_ids": [node]})
    sent(agents, command_id)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    agents.status(cluster, node, "unreachable")
    [row] = ended(agents, command_id, 1).values()
    assert row["status"] == "expired"
    events = admin.data(admin.http.get("/api/v1/events", params={
        "type": "edge.command_execution.expired", "subject_id": row["id"]}))
    assert "node unreachable" in events[0]["data"]["reason"]


def test_a_disk_that_takes_no_journal_neither_stops_the_agent_nor_loses_a_result(
    agents: Agents,
) -> None:
    """The agent's disk refusing writes, as a full one does (ENOSPC), made real here by a limit
    on the size of the files the agent may write (RLIMIT_FSIZE: its writes fail with EFBIG).
    Reproduced with a full tmpfs under --state-dir: the agent exited with a traceback when
    handed a command, and a result it could not journal was never reported."""
    admin = agents.admin
    cluster, key = admin.new_cluster()
    agent = start(agents, "j", key)
    [node] = agents.healthy(cluster, 1)
    target = {"type": "nodes", "node_ids": [node]}
    _, hard = resource.prlimit(agent.pid, resource.RLIMIT_FSIZE)
    try:
        # Handed out while nothing can be journaled: not run (a crash would leave it unknown to
        # the next start), not lost either: it runs once the journal takes it.
        resource.prlimit(agent.pid, resource.RLIMIT_FSIZE, (0, hard))
        waiting = command(admin, "echo ran", target)
        sent(agents, waiting)
        time.sleep(2)  # the hand-out and its repeat (2 s) meet the refusing disk
        assert agent.poll() is None
        resource.prlimit(agent.pid, resource.RLIMIT_FSIZE, (hard, hard))
        [row] = ended(agents, waiting, 1).values()
        assert row["status"] == "completed" and row["output"] == "ran\n"
        # The disk refuses the result once the command ran (the command fills it, here it
        # lowers the agent's limit): the result is reported all the same.
        fill = (f'{sys.executable} -c "import resource as r; '
                f'r.prlimit($PPID, r.RLIMIT_FSIZE, (0, r.RLIM_INFINITY))"; echo filled')
        filling = command(admin, fill, target)
        [row] = ended(agents, filling, 1).values()
        assert row["status"] == "completed" and row["output"] == "filled\n"
        assert agent.poll() is None
    finally:
        if agent.poll() is None:
            resource.prlimit(agent.pid, resource.RLIMIT_FSIZE, (hard, hard))


def test_self_update_re_executes_the_agent_with_its_new_version(agents: Agents) -> None:
    admin = agents.admin
    cluster, key = admin.new_cluster()
    version_file = agents.tmp / "version"
    version_file.write_text("1.0.0\n")
    proc = start(agents, "g", key, "--self-update", "--version-file", str(version_file),
                 "--update-command", f"echo 2.0.0 > {version_file}")
    [node] = agents.healthy(cluster, 1)
    request = admin.data(admin.http.post("/api/v1/self_update_requests", json={
        "targeting": {"type": "clusters", "cluster_names": [cluster]}}))

    def updated() -> bool:
        row = admin.nodes(cluster).get(node, {})
        return row.get("version") == "2.0.0"

    agents.wait(updated, "the node re-registered with version 2.0.0")
    assert proc.poll() is None  # the same process, re-executed in place
    done = admin.data(admin.http.get(f"/api/v1/self_update_requests/{request['id']}"))
    assert done["status"] == "completed"
    assert done["summary"] == {"total": 1, "triggered": 1, "failed": 0}
    later = command(admin, "echo still-here", {"type": "nodes", "node_ids": [node]})
    [row] = ended(agents, later, 1).values()
    assert row["output"] == "still-here\n"
    assert os.path.exists(agents.tmp / "g" / "executions")
    eventually(lambda: "re-executing" in agents.children.log("g"), "a log line",
               agents.children)


def test_a_result_finished_while_the_admin_was_down_arrives_after_its_restart(
    tmp_path: Path,
) -> None:
    # Its own admin: the module's aggressive unreachable grace would end the work first.
    with (pg_admin(tmp_path / "own", EXECUTION_UNREACHABLE_GRACE_SECONDS="60") as admin,
          agents_of(admin, tmp_path) as agents):
        cluster, key = admin.new_cluster()
        start(agents, "h", key)
        [node] = agents.healthy(cluster, 1)
        target = {"type": "nodes", "node_ids": [node]}
        command_id = command(admin, "sleep 1; echo finished", target)
        sent(agents, command_id)
        admin.stop()
        time.sleep(2.5)  # the command ends while nobody can take its result
        admin.start()
        [row] = ended(agents, command_id, 1).values()
        assert row["status"] == "completed" and row["output"] == "finished\n"
