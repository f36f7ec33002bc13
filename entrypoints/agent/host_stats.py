"""Figures a process reads from /proc and the filesystem: its own memory and descriptors, and
the host's load, memory, root disk and uptime. The agent reports them (its metrics and host
reports); the admin's metrics endpoint reads its own process figures here too: the admin may
import the agent's modules, never the other way round (import-linter). Anything unreadable (not
Linux, a sandbox) is None rather than a guess."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

GB = 1024**3


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


def _meminfo() -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[name] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return values


def _usage(total: int, available: int) -> dict[str, Any]:
    used = total - available
    return {
        "available_bytes": available, "available_gb": round(available / GB, 2),
        "total_bytes": total, "total_gb": round(total / GB, 2),
        "usage_percent": round(used * 100 / total, 1) if total else None,
        "used_bytes": used, "used_gb": round(used / GB, 2),
    }


CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency")
CPUINFO = Path("/proc/cpuinfo")


def base_clock_mhz(base_frequency: Path = CPUFREQ, cpuinfo: Path = CPUINFO) -> int | None:
    """The CPU's base clock in MHz (Edgegap's fleet hosts show it): cpufreq's base_frequency
    (kHz) where the driver gives it, else the first core's `cpu MHz` in /proc/cpuinfo (the
    nominal clock on most virtual machines, the current one where the frequency scales)."""
    try:
        return round(int(base_frequency.read_text().strip()) / 1000) or None
    except (OSError, ValueError):
        pass
    try:
        with cpuinfo.open() as lines:
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip() == "cpu MHz":
                    return round(float(value)) or None
    except (OSError, ValueError):
        pass
    return None


def host_cpu() -> dict[str, Any] | None:
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
        return {"cores": os.cpu_count(), "load_1m": float(load[0]), "load_5m": float(load[1]),
                "load_15m": float(load[2]), "base_clock_mhz": base_clock_mhz()}
    except (OSError, IndexError, ValueError):
        return None


def host_memory() -> dict[str, Any] | None:
    try:
        info = _meminfo()
        return _usage(info["MemTotal"], info["MemAvailable"])
    except (OSError, KeyError):
        return None


def host_disk(path: str = "/") -> dict[str, Any] | None:
    try:
        fs = os.statvfs(path)
    except OSError:
        return None
    # f_bavail: what an unprivileged user can still write, as `df` reports it.
    return _usage(fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize)


def host_uptime() -> dict[str, Any] | None:
    try:
        seconds = int(float(Path("/proc/uptime").read_text().split()[0]))
    except (OSError, IndexError, ValueError):
        return None
    return {"human": human_duration(seconds), "seconds": seconds}


def host_metrics() -> dict[str, Any]:
    return {"cpu": host_cpu(), "disk": host_disk(), "memory": host_memory(),
            "uptime": host_uptime()}
