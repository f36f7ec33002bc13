"""The admin process's own figures from /proc (memory, open descriptors) for its metrics
endpoint. Anything unreadable (not Linux, a sandbox) is None rather than a guess. The agent has
its own reader (entrypoints/agent/host_stats.py): it shares no code with the admin."""

from __future__ import annotations

import os
from pathlib import Path


def human_duration(seconds: float) -> str:
    """'1d 2h 30m', '5h 15m', '30m' as the seed writes uptimes; under a minute: '0m'."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def resident_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
