"""Exclusive lock files beside the SQLite database: one active projector per file, one process
at a time making its tables."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FileLock:
    """flock on `<database>.projector.lock`; the kernel drops it if the process dies."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        # Several threads ask at once; a second descriptor would conflict with the first.
        self._guard = threading.Lock()

    def held(self) -> bool:
        with self._guard:
            if self._fd is not None:
                return True
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    @property
    def sessions(self) -> int:
        """Always 0: unlike a database session, a flock is not lost while its process runs."""
        return 0

    def release(self) -> None:
        with self._guard:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@contextmanager
def held_alone(path: str) -> Iterator[None]:
    """Waits for, then holds, an exclusive flock on `path` for the block (the kernel drops it
    if the process dies): processes starting together on one SQLite file make its tables one
    at a time (eventsourcing's tracking table records its own version with a check, then an
    insert, and the second of two starts died on the first one's row)."""
    with open(path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
