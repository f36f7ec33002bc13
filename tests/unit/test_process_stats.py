"""Host and process figures match what the kernel reports through other interfaces."""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
from pathlib import Path

from entrypoints.agent import host_stats
from entrypoints.agent.host_stats import host_cpu, host_disk, host_memory, host_metrics, host_uptime
from entrypoints.logs import JsonFormatter, request_id


def test_cpu_matches_os() -> None:
    cpu = host_cpu()
    assert cpu is not None
    assert cpu["cores"] == os.cpu_count()
    assert abs(cpu["load_1m"] - os.getloadavg()[0]) < 1.0


def test_memory_is_consistent_with_sysconf() -> None:
    memory = host_memory()
    assert memory is not None
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory["total_bytes"] == pages
    assert memory["used_bytes"] == memory["total_bytes"] - memory["available_bytes"]
    assert 0 <= memory["usage_percent"] <= 100


def test_disk_of_root_matches_statvfs() -> None:
    disk = host_disk("/")
    fs = os.statvfs("/")
    assert disk is not None
    assert disk["total_bytes"] == fs.f_blocks * fs.f_frsize
    assert disk["used_bytes"] + disk["available_bytes"] == disk["total_bytes"]


def test_uptime_and_its_human_form() -> None:
    human_duration = host_stats.human_duration
    uptime = host_uptime()
    assert uptime is not None and uptime["seconds"] > 0
    assert human_duration(59) == "0m"
    assert human_duration(5 * 3600 + 15 * 60) == "5h 15m"
    assert human_duration(86400 + 2 * 3600 + 30 * 60) == "1d 2h 30m"
    assert human_duration(86400) == "1d 0h 0m"
    assert set(host_metrics()) == {"cpu", "disk", "memory", "uptime"}


def test_process_figures() -> None:
    rss = host_stats.resident_bytes()
    status = Path("/proc/self/status").read_text()
    vm_rss = int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1]) * 1024
    # Read moments apart (and the peak may be far above): close to VmRSS, not above the peak.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    assert rss is not None and abs(rss - vm_rss) < 16 * 1024 * 1024 and rss <= peak * 1.05
    fds = host_stats.open_fds()
    assert fds is not None and fds >= 3


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("edge", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    token = request_id.set("req-123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "hello you" and line["request_id"] == "req-123"
    assert line["level"] == "warning" and line["logger"] == "edge"
    outside = json.loads(JsonFormatter().format(record))
    assert "request_id" not in outside
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("edge", logging.ERROR, __file__, 1, "x", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exception"]


def test_base_clock_prefers_cpufreq_then_cpuinfo(tmp_path: Path) -> None:
    base, cpuinfo = tmp_path / "base_frequency", tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2596.144\n\n"
                       "processor\t: 1\ncpu MHz\t\t: 3100.000\n")
    assert host_stats.base_clock_mhz(base, cpuinfo) == 2596  # no cpufreq: the first core's
    base.write_text("2000000\n")  # kHz
    assert host_stats.base_clock_mhz(base, cpuinfo) == 2000
    assert host_stats.base_clock_mhz(tmp_path / "none", tmp_path / "none") is None
    cpuinfo.write_text("processor\t: 0\n")  # no clock listed (some ARM kernels)
    assert host_stats.base_clock_mhz(tmp_path / "none", cpuinfo) is None


def test_the_host_report_carries_this_machines_base_clock() -> None:
    cpu = host_cpu()
    assert cpu is not None and cpu["base_clock_mhz"] == host_stats.base_clock_mhz()
