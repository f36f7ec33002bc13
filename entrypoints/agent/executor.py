"""Runs one command with /bin/sh: own process group, output to a file, timeout, cancel, expiry.

Exit codes reported: the shell's own (128+N when a signal N ended it); 124 when the timeout
stopped it (as timeout(1) reports); 143 when a cancel or expired_at stopped it, however it then
died (a command that ignores SIGTERM gets SIGKILL after KILL_AFTER seconds); 137 with a note when
the agent itself stopped. Signals go to the whole process group, so background children go too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from application.agent_protocol import Assignment, cap_output, cut_marker
from entrypoints.agent.disk import lost_output_note, no_room

TIMED_OUT, STOPPED, INTERRUPTED = 124, 143, 137
KILL_AFTER = 5.0
DEFAULT_OUTPUT_LIMIT = 65_536
INTERRUPTED_NOTE = ("\n[edge-agent] interrupted: the agent stopped while this command ran; it"
                    " was not re-run")
NOT_STARTED_NOTE = "[edge-agent] not started: expired_at had passed"
# Set in every command's environment: tells a restarted agent which processes were its own.
EXECUTION_ENV = "EDGE_EXECUTION_ID"
_PR_SET_PDEATHSIG = 1
_READ_CHUNK = 1 << 20
# UTF-8 continuation bytes: deleting them leaves one byte per character.
_CONTINUATION = bytes(range(0x80, 0xC0))
# Never handed to commands: the node's credentials stay with the agent.
SECRET_ENV = ("ENROLLMENT_KEY", "EDGE_AGENT_HANDOFF")


def _die_with(parent: int, record: Callable[[int], None] | None) -> Callable[[], None]:
    """Linux: the shell gets SIGKILL if the agent dies (its own children are found on restart).

    `record` gets the new process group id here, in the child before the command runs: were it
    written after the spawn returned, a loaded machine could run the command's first children
    before the agent wrote it, and a crash then would leave them unknown to the next boot."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    except (OSError, AttributeError):
        prctl = None

    def arm() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the agent died before the signal was armed
            os._exit(INTERRUPTED)
        if record is not None:
            with contextlib.suppress(OSError):  # the parent records it again after the spawn
                record(os.getpid())

    return arm


def cap(output: str, limit: int) -> str:
    return cap_output(output, limit, "edge-agent")


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in SECRET_ENV}


def read_output(path: Path, limit: int) -> str:
    """The file's text capped like `cap`, reading at most ~8 x limit bytes of it: a runaway
    command can write gigabytes, and only the head and the tail survive the cut anyway."""
    try:
        with open(path, "rb") as out:
            size = os.fstat(out.fileno()).st_size
            if size <= 8 * limit:
                return cap(out.read().decode("utf-8", "replace"), limit)
            head = out.read(4 * limit).decode("utf-8", "replace")
            middle = 0
            while out.tell() < size - 4 * limit:
                chunk = out.read(min(_READ_CHUNK, size - 4 * limit - out.tell()))
                middle += len(chunk.translate(None, _CONTINUATION))
            tail = out.read().decode("utf-8", "replace")
    except OSError:
        return ""
    marker, keep = cut_marker(len(head) + middle + len(tail), limit, "edge-agent")
    return head[: keep // 2] + marker + tail[len(tail) - (keep - keep // 2):]


def kill_leftovers(pgid: int, exec_id: UUID) -> int:
    """SIGKILLs what survives of a command whose agent died: the processes of its group that
    carry its execution id (a recycled group id belongs to someone else). Linux /proc only."""
    marker = f"{EXECUTION_ENV}={exec_id}".encode()
    killed = 0
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            pgrp = int(stat[stat.rindex(b")") + 2:].split()[2])
            if pgrp != pgid or marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return killed


class Execution:
    """One command; `stop(reason)` ends it early (the first reason wins; idempotent)."""

    def __init__(self, assignment: Assignment, output_path: Path, limit: int,
                 on_spawn: Callable[[int], None] | None = None) -> None:
        self.assignment = assignment
        self.output_path = output_path
        self.limit = limit
        self.on_spawn = on_spawn
        self.reason: str | None = None
        self._stop = asyncio.Event()

    def stop(self, reason: str = "cancel") -> bool:
        """Asks the command to end ("cancel" or "shutdown"); False if it was already asked."""
        if self.reason is not None:
            return False
        self.reason = reason
        self._stop.set()
        return True

    async def run(self) -> tuple[int, str]:
        until = self._until()
        if until is not None and until <= 0:
            return STOPPED, NOT_STARTED_NOTE  # started now it would run past its deadline
        env = {**child_env(os.environ), EXECUTION_ENV: str(self.assignment.id)}
        # A disk without room when the command starts or ends took none or not all of its
        # output; read back, it would look as if the command said nothing.
        room = no_room(self.output_path.parent)
        with open(self.output_path, "wb") as out:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", self.assignment.command_text,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, env=env,
                preexec_fn=_die_with(os.getpid(), self.on_spawn),
            )
        if self.on_spawn is not None:
            self.on_spawn(process.pid)
        why = await self._wait(process)
        code = process.returncode if process.returncode is not None else -signal.SIGKILL
        exit_code, note = self._verdict(why, 128 - code if code < 0 else code)
        room = room or no_room(self.output_path.parent)
        # The longer of the two notes is kept room for: which one depends on what is read.
        reserve = len(note) + (len(lost_output_note("cut", room)) if room else 0)
        output = await asyncio.to_thread(read_output, self.output_path, self.limit - reserve)
        if room is not None:
            note = lost_output_note(output, room) + note
        return exit_code, output + note

    def _verdict(self, why: str, exit_code: int) -> tuple[int, str]:
        if why == "timeout":
            timeout = self.assignment.timeout
            return TIMED_OUT, f"\n[edge-agent] timed out after {timeout} ms; stopped"
        if why == "expired":
            return STOPPED, "\n[edge-agent] stopped at expired_at"
        if why == "cancel":
            return STOPPED, ""
        if why == "shutdown":
            return INTERRUPTED, INTERRUPTED_NOTE
        return exit_code, ""

    async def _wait(self, process: asyncio.subprocess.Process) -> str:
        """Waits for the end; returns why it was stopped ("" when it ended by itself)."""
        limits = [(self._seconds(self.assignment.timeout), "timeout"), (self._until(), "expired")]
        deadline, why = min(((s, w) for s, w in limits if s is not None), default=(None, ""))
        done = asyncio.ensure_future(process.wait())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            finished, _ = await asyncio.wait({done, stopped}, timeout=deadline,
                                             return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if done in finished:
            return ""
        reason = self.reason if stopped in finished and self.reason else why
        await terminate(process.pid, done)
        return reason

    @staticmethod
    def _seconds(timeout_ms: int | None) -> float | None:
        return None if timeout_ms is None else max(timeout_ms / 1000, 0.0)

    def _until(self) -> float | None:
        if self.assignment.expired_at is None:
            return None
        return max((self.assignment.expired_at - datetime.now(UTC)).total_seconds(), 0.0)


async def terminate(pgid: int, done: asyncio.Future[int]) -> None:
    """SIGTERM to the group, SIGKILL if it is still there KILL_AFTER seconds later."""
    for sig, grace in ((signal.SIGTERM, KILL_AFTER), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(done), grace)
            return
        except TimeoutError:
            continue
