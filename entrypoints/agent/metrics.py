"""The agent's metrics reports: host figures from /proc and its own counters, sent to the admin
every `--metrics-interval` seconds so E27-E29 answer without reaching into the node."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from application.agent_protocol import AgentReport, Cpu, HostReport, MetricsBody, Uptime, Usage
from entrypoints.agent.api import AdminError, Unreachable
from entrypoints.agent.host_stats import host_metrics, human_duration, resident_bytes
from entrypoints.agent.session import Link

log = logging.getLogger(__name__)
MB = 1024 * 1024


def agent_metrics(counts: Mapping[str, int], started: float, version: str) -> dict[str, Any]:
    """The seed's agent groups; those with no meaning for this agent (no BEAM memory classes,
    no proxy, no VPN, no HTTP-fallback health reports, no admin discovery, no Oban) are null."""
    uptime = int(time.monotonic() - started)
    rss = resident_bytes()
    return {
        "application": {
            "memory_binary_bytes": None, "memory_binary_mb": None, "memory_ets_bytes": None,
            "memory_ets_mb": None, "memory_processes_bytes": None, "memory_processes_mb": None,
            "memory_total_bytes": rss,
            "memory_total_mb": round(rss / MB, 2) if rss is not None else None,
            "process_count": threading.active_count(),
            "uptime_human": human_duration(uptime), "uptime_seconds": uptime,
            "version": version,
        },
        "commands": {k: counts.get(f"commands.{k}", 0) for k in (
            "completed_total", "enqueued_total", "reported_total", "synced_total")},
        "discovery": None,
        "health_check": None,
        "oban_queues": None,
        "proxy": None,
        "ssh": {k: counts.get(f"ssh.{k}", 0) for k in (
            "authentications_total", "connections_total")},
        "vpn": None,
    }


def host_report(host: dict[str, Any]) -> HostReport:
    """The /proc figures (None where unreadable) as the wire's host group."""
    cpu, disk, memory, uptime = (host.get(k) for k in ("cpu", "disk", "memory", "uptime"))
    return HostReport(cpu=Cpu(**cpu) if cpu else None, disk=Usage(**disk) if disk else None,
                      memory=Usage(**memory) if memory else None,
                      uptime=Uptime(**uptime) if uptime else None)


class MetricsReporter:
    """Reports on a fixed period; a failed report is simply replaced by the next one."""

    def __init__(self, link: Link, started: float, version: str, interval: float) -> None:
        self.link, self.interval = link, interval
        self.started, self.version = started, version

    async def run(self) -> None:
        while True:
            await self.report_once()
            await asyncio.sleep(self.interval)

    async def report_once(self) -> bool:
        session = await self.link.session()
        host = await asyncio.to_thread(host_metrics)
        report = MetricsBody(
            host=host_report(host),
            agent=AgentReport(**agent_metrics(self.link.counters, self.started, self.version)))
        try:
            await self.link.api.metrics(session.api_token, report)
        except (Unreachable, AdminError) as exc:
            if isinstance(exc, AdminError) and exc.status == 401:
                self.link.drop(session, forget_token=False)
            log.debug("metrics report not delivered: %s", exc)
            return False
        return True
