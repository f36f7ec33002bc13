"""Telling a full disk from other write failures. A full disk is not a bad setting and not a
bug: an operator has to make room, so what the agent says names the disk and says it is full,
and a command's output the disk did not take is reported with a note, not silently empty."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

# Out of blocks, or out of this user's quota: either way a write finds no room.
FULL = (errno.ENOSPC, errno.EDQUOT)


def is_full(exc: OSError) -> bool:
    return exc.errno in FULL


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem `path` is on: the name an operator knows the disk by."""
    path = path.resolve()
    while not path.is_mount():
        path = path.parent
    return path


def full_disk(path: Path, exc: OSError) -> str:
    """One line saying that the disk holding `path` is full."""
    return (f"the disk of {mount_point(path.parent)} is full: cannot write {path} "
            f"({os.strerror(exc.errno or errno.ENOSPC).lower()})")


def no_room(directory: Path) -> str | None:
    """Why a write in `directory` would find no room now (its error, lowercased), or None.

    It asks the filesystem for one block, as the next write would: statvfs figures differ with
    who asks (blocks reserved for root, quotas)."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".room-")
        try:
            os.posix_fallocate(fd, 0, 1)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name)
    except OSError as exc:
        return os.strerror(exc.errno or 0).lower() if is_full(exc) else None
    return None


def lost_output_note(output: str, why: str) -> str:
    """What a command's output says when its disk had no room while it ran."""
    if not output:
        return f"[edge-agent] output not kept: {why}"
    return f"\n[edge-agent] output may be cut short: {why}"
