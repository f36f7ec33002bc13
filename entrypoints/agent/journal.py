"""The agent's execution journal: what it accepted, its output so far, and its unsent result.

An entry is written (and fsynced) before a command starts and removed only once the admin has
acknowledged the result, so an agent that dies at any moment knows on restart which commands it
was running (reported as interrupted, never re-run) and which results it still owes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import msgspec

from application.agent_protocol import Assignment
from entrypoints.agent.identity import write_private


class Result(msgspec.Struct, kw_only=True):
    exit_code: int
    output: str


@dataclass(frozen=True)
class Entry:
    assignment: Assignment
    result: Result | None


class Journal:
    """One directory; `<id>.json` (accepted), `<id>.out` (output), `<id>.pid` (its process
    group, to find what is left of it after a crash), `<id>.result` (to report)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, exec_id: UUID, suffix: str) -> Path:
        return self.directory / f"{exec_id}{suffix}"

    def output_path(self, exec_id: UUID) -> Path:
        return self._path(exec_id, ".out")

    def accept(self, assignment: Assignment) -> bool:
        """Records the assignment durably; False if it is already held (a repeated hand-out)."""
        path = self._path(assignment.id, ".json")
        if path.exists():
            return False
        write_private(path, msgspec.json.encode(assignment))
        return True

    def started(self, exec_id: UUID, pgid: int) -> None:
        """Not fsynced: it only matters while this boot's processes can still be alive.

        Called twice per command (by the child before it runs, by the agent after the spawn as
        a fallback): the second call must not truncate a file the command may already be
        reading, or a crash then would find it empty. A disk that takes nothing (full) costs
        only that clean-up after a crash: raised, it reported a running command as never
        started (127) and left it unwatched."""
        if self.pgid(exec_id) != pgid:
            with contextlib.suppress(OSError):
                self._path(exec_id, ".pid").write_text(f"{pgid}\n")

    def pgid(self, exec_id: UUID) -> int | None:
        try:
            return int(self._path(exec_id, ".pid").read_text())
        except (OSError, ValueError):
            return None

    def finish(self, exec_id: UUID, result: Result) -> None:
        write_private(self._path(exec_id, ".result"), msgspec.json.encode(result))

    def forget(self, exec_id: UUID) -> None:
        """The admin has the result: the entry goes (result first, so a crash here is harmless)."""
        for suffix in (".result", ".out", ".pid", ".json"):
            self._path(exec_id, suffix).unlink(missing_ok=True)

    def held(self) -> list[UUID]:
        return [e.assignment.id for e in self.entries()]

    def entries(self) -> list[Entry]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                assignment = msgspec.json.decode(path.read_bytes(), type=Assignment)
            except (OSError, msgspec.DecodeError):
                continue  # torn by a crash mid-write: it never started (written before start)
            result_path = self._path(assignment.id, ".result")
            result = None
            if result_path.exists():
                try:
                    result = msgspec.json.decode(result_path.read_bytes(), type=Result)
                except msgspec.DecodeError:
                    result = None
            found.append(Entry(assignment, result))
        return found
