"""The agent's own checks behind the `healthy`/`unhealthy` it reports in each heartbeat."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HealthLimits:
    """Where a node stops being fit for work: nearly full root filesystem, or overloaded CPUs."""

    min_free_disk_percent: float = 5.0
    max_load_per_core: float = 3.0
    path: str = "/"


def disk_free_percent(path: str) -> float:
    """Space an unprivileged process may still use, as a percentage of the filesystem."""
    st = os.statvfs(path)
    if st.f_blocks == 0:  # pseudo filesystems report no size; nothing to fill up
        return 100.0
    return 100.0 * st.f_bavail / st.f_blocks


def load_per_core() -> float:
    """One-minute load average divided by the CPUs this process may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return os.getloadavg()[0] / max(cores, 1)


def problems(limits: HealthLimits) -> dict[str, str]:
    """What is wrong with this node now, by check ("disk", "load"); empty when it is healthy."""
    found: dict[str, str] = {}
    try:
        free, least = disk_free_percent(limits.path), limits.min_free_disk_percent
        if free < least:
            found["disk"] = f"{limits.path} has {free:.1f}% free (< {least:g}%)"
    except OSError as exc:
        found["disk"] = f"cannot stat {limits.path}: {exc.strerror or exc}"
    try:
        load = load_per_core()
        if load > limits.max_load_per_core:
            found["load"] = f"load {load:.2f} per core (> {limits.max_load_per_core:g})"
    except OSError:
        pass  # no load average on this platform: nothing to judge by
    return found
