"""Runs one command with /bin/sh: own process group, output to a file, timeout, cancel, expiry.

Exit codes reported: the shell's own; 128+N when a signal N ended it (143 after a cancel or at
expired_at: SIGTERM); 124 when the timeout stopped it (as timeout(1) reports). A command that
ignores SIGTERM gets SIGKILL after KILL_AFTER seconds.
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

from domain.command_execution import cap_output
from entrypoints.agent.journal import Assignment

TIMED_OUT = 124
KILL_AFTER = 5.0
DEFAULT_OUTPUT_LIMIT = 65_536
_PR_SET_PDEATHSIG = 1
# Never handed to commands: the node's credentials stay with the agent.
SECRET_ENV = ("ENROLLMENT_KEY", "EDGE_AGENT_HANDOFF")


def _die_with(parent: int) -> Callable[[], None]:
    """Linux: the command gets SIGKILL if the agent dies, so no orphan outlives its journal."""

    def arm() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the agent died before the signal was armed
            os._exit(137)

    return arm


def cap(output: str, limit: int) -> str:
    return cap_output(output, limit, "edge-agent")


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in SECRET_ENV}


class Execution:
    """One running command; `stop()` asks it to end (cancel), idempotently."""

    def __init__(self, assignment: Assignment, output_path: Path, limit: int) -> None:
        self.assignment = assignment
        self.output_path = output_path
        self.limit = limit
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> tuple[int, str]:
        with open(self.output_path, "wb") as out:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", self.assignment.command_text,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, env=child_env(os.environ),
                # Only prctl runs between fork and exec: safe even with threads around.
                preexec_fn=_die_with(os.getpid()),
            )
        why = await self._wait(process)
        code = process.returncode if process.returncode is not None else -signal.SIGKILL
        exit_code = 128 - code if code < 0 else code
        note = ""
        if why == "timeout":
            exit_code = TIMED_OUT
            note = f"\n[edge-agent] timed out after {self.assignment.timeout} ms; stopped"
        elif why == "expired":
            note = "\n[edge-agent] stopped at expired_at"
        output = self.output_path.read_bytes().decode("utf-8", "replace") + note
        return exit_code, cap(output, self.limit)

    async def _wait(self, process: asyncio.subprocess.Process) -> str:
        """Waits for the end; returns why it was stopped ("" when it ended by itself)."""
        limits = [(self._seconds(self.assignment.timeout), "timeout"), (self._until(), "expired")]
        deadline, why = min(((s, w) for s, w in limits if s is not None), default=(None, ""))
        done = asyncio.ensure_future(process.wait())
        cancelled = asyncio.ensure_future(self._stop.wait())
        try:
            finished, _ = await asyncio.wait({done, cancelled}, timeout=deadline,
                                             return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
        if done in finished:
            return ""
        reason = "cancel" if cancelled in finished else why
        await self._terminate(process, done)
        return reason

    async def _terminate(self, process: asyncio.subprocess.Process, done: asyncio.Future[int]
                         ) -> None:
        for sig, grace in ((signal.SIGTERM, KILL_AFTER), (signal.SIGKILL, None)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(asyncio.shield(done), grace)
                return
            except TimeoutError:
                continue

    @staticmethod
    def _seconds(timeout_ms: int | None) -> float | None:
        return None if timeout_ms is None else max(timeout_ms / 1000, 0.0)

    def _until(self) -> float | None:
        if self.assignment.expired_at is None:
            return None
        return max((self.assignment.expired_at - datetime.now(UTC)).total_seconds(), 0.0)
