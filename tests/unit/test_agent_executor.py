"""The agent's executor and journal with real /bin/sh processes (short sleeps only)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from application.agent_protocol import Assignment
from entrypoints.agent.executor import (
    EXECUTION_ENV,
    INTERRUPTED,
    INTERRUPTED_NOTE,
    NOT_STARTED_NOTE,
    TIMED_OUT,
    Execution,
    cap,
    child_env,
    kill_leftovers,
    read_output,
)
from entrypoints.agent.journal import Journal, Result
from tests.e2e.test_disk_full import small_disk

__all__ = ["small_disk"]  # the fixture: a small tmpfs (root only)


def assignment(text: str, **fields: object) -> Assignment:
    return Assignment(id=uuid4(), command_id=uuid4(), command_text=text, **fields)  # type: ignore[arg-type]


def run(tmp_path: Path, text: str, limit: int = 65_536, **fields: object) -> tuple[int, str]:
    execution = Execution(assignment(text, **fields), tmp_path / "out", limit)
    return asyncio.run(execution.run())


def test_output_and_exit_code_of_a_multi_line_script(tmp_path: Path) -> None:
    assert run(tmp_path, "A=value\necho $A\necho oops >&2\nexit 5") == (5, "value\noops\n")


def test_long_output_keeps_head_and_tail(tmp_path: Path) -> None:
    code, output = run(tmp_path, "seq 1 100000", limit=2048)
    assert code == 0 and len(output) == 2048
    assert output.startswith("1\n2\n3\n") and output.endswith("99999\n100000\n")
    assert "characters omitted by edge-agent" in output


def test_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    code, output = run(tmp_path, "sleep 30 & sleep 30; echo never", timeout=300)
    assert code == TIMED_OUT and "never" not in output
    assert "timed out after 300 ms" in output


def test_cancel_is_a_sigterm_reported_as_143(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str]:
        execution = Execution(assignment("echo started; sleep 30"), tmp_path / "out", 65_536)
        task = asyncio.create_task(execution.run())
        await asyncio.sleep(0.3)
        execution.stop()
        return await task

    assert asyncio.run(scenario()) == (143, "started\n")


def test_a_command_ignoring_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.setattr("entrypoints.agent.executor.KILL_AFTER", 0.2)
    code, _ = run(tmp_path, "trap '' TERM; sleep 30", timeout=200)
    assert code == TIMED_OUT


def test_expired_at_stops_the_command(tmp_path: Path) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    code, output = run(tmp_path, "exec sleep 30", expired_at=soon)
    assert code == 143 and "stopped at expired_at" in output


def test_commands_never_see_the_agents_secrets() -> None:
    env = child_env({"PATH": "/bin", "ENROLLMENT_KEY": "k", "EDGE_AGENT_HANDOFF": "{}"})
    assert env == {"PATH": "/bin"}


def test_cap_is_exact() -> None:
    assert cap("x" * 10, 10) == "x" * 10
    capped = cap("a" * 5000 + "b" * 5000, 1024)
    assert len(capped) == 1024 and capped.startswith("a") and capped.endswith("b")


def test_journal_keeps_entries_until_forgotten(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "executions")
    journal.prepare()
    first, second = assignment("true"), assignment("false")
    assert journal.accept(first) and journal.accept(second)
    assert not journal.accept(first)  # a repeated hand-out is not run twice
    journal.output_path(first.id).write_text("half")
    journal.finish(second.id, Result(exit_code=1, output=""))
    entries = {e.assignment.id: e for e in Journal(tmp_path / "executions").entries()}
    assert entries[first.id].result is None
    assert read_output(journal.output_path(first.id), 1024) == "half"
    assert entries[second.id].result == Result(exit_code=1, output="")
    journal.forget(second.id)
    assert journal.held() == [first.id]
    assert oct(os.stat(tmp_path / "executions" / f"{first.id}.json").st_mode & 0o777) == "0o600"


def stopped_after(tmp_path: Path, text: str, reason: str, pause: float = 0.3) -> tuple[int, str]:
    async def scenario() -> tuple[int, str]:
        execution = Execution(assignment(text), tmp_path / "out", 65_536)
        task = asyncio.create_task(execution.run())
        await asyncio.sleep(pause)
        execution.stop(reason)
        return await task

    return asyncio.run(scenario())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_cancel_that_needs_sigkill_is_still_reported_as_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("entrypoints.agent.executor.KILL_AFTER", 0.2)
    assert stopped_after(tmp_path, "trap '' TERM; echo up; sleep 30", "cancel") == (143, "up\n")


def test_an_agent_shutdown_kills_the_whole_group_and_says_so(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    code, output = stopped_after(tmp_path, f"sleep 30 & echo $! > {pid_file}; wait", "shutdown")
    assert (code, output) == (INTERRUPTED, INTERRUPTED_NOTE)
    background = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(background) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(background)


def test_an_already_expired_assignment_is_not_started(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert run(tmp_path, f"touch {marker}", expired_at=past) == (143, NOT_STARTED_NOTE)
    assert not marker.exists()


def test_huge_output_is_capped_exactly_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "out"
    with open(path, "wb") as out:
        out.write("é".encode() * 3000)  # two bytes per character
        out.write(b"x" * 5_000_000)
        out.write(b"tail-end")
    text = read_output(path, 2048)
    assert len(text) == 2048 and text.startswith("é" * 500) and text.endswith("xxtail-end")
    assert text == cap("é" * 3000 + "x" * 5_000_000 + "tail-end", 2048)


def test_leftovers_of_a_dead_agents_command_are_killed_and_nothing_else(tmp_path: Path) -> None:
    mine, other = uuid4(), uuid4()
    procs = [
        subprocess.Popen(["/bin/sh", "-c", "sleep 30 & wait"], start_new_session=True,
                         env={**os.environ, EXECUTION_ENV: str(exec_id)})
        for exec_id in (mine, other)
    ]
    try:
        time.sleep(0.2)  # the background sleeps exist
        assert kill_leftovers(procs[0].pid, mine) == 2  # the shell and its sleep
        assert kill_leftovers(procs[1].pid, mine) == 0  # someone else's group is left alone
        assert procs[0].wait(5) == -signal.SIGKILL and procs[1].poll() is None
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_the_process_group_is_journaled_before_the_command_runs(tmp_path: Path) -> None:
    """An agent killed right after its command's first line must still find that command's group
    on restart, so the record cannot wait for the spawn to return to the event loop."""
    journal = Journal(tmp_path / "journal")
    journal.prepare()
    seen = tmp_path / "seen"
    exec_id = uuid4()
    pid_path = tmp_path / "journal" / f"{exec_id}.pid"
    job = Assignment(id=exec_id, command_id=uuid4(),
                     command_text=f"cat {pid_path} > {seen}; echo $$ >> {seen}")
    for _ in range(20):  # before the fix the shell won this race most of the time
        execution = Execution(job, tmp_path / "out", 65_536,
                              on_spawn=lambda pgid: journal.started(exec_id, pgid))
        assert asyncio.run(execution.run())[0] == 0
        recorded, shell = seen.read_text().split()
        assert recorded == shell
        pid_path.unlink()


def test_a_process_group_the_disk_will_not_take_does_not_fail_the_command(tmp_path: Path) -> None:
    """On a full disk the record of the command's group could not be written: the error was
    taken for the command not starting (127) while it ran on, unwatched."""
    journal = Journal(tmp_path / "journal")
    journal.prepare()
    job = assignment("echo ran")
    (tmp_path / "journal" / f"{job.id}.pid").mkdir()  # a write there fails, as on a full disk
    execution = Execution(job, journal.output_path(job.id), 65_536,
                          on_spawn=lambda pgid: journal.started(job.id, pgid))
    assert asyncio.run(execution.run()) == (0, "ran\n")


def test_output_a_full_disk_cut_short_says_so_within_the_limit(small_disk: Path) -> None:
    # What was written before the disk filled is kept (in a block it already had), the rest
    # may not be: the note says so, and output and note together stay within the limit.
    code, output = run(small_disk, f"seq 1 2000; head -c 64m /dev/zero > {small_disk}/filler",
                       limit=1024)
    assert code != 0 and len(output) <= 1024
    assert output.startswith("1\n2\n3\n"), output
    assert output.endswith("\n[edge-agent] output may be cut short: no space left on device")
    (small_disk / "filler").unlink()
    assert run(small_disk, "echo room again") == (0, "room again\n")
