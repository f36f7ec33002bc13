"""The agent's lifecycle: composes the session link (entrypoints/agent/session.py) with the
heartbeat loop, the SSH server, the metrics reporter, hosting and the work loop, and runs them
until stopped. The log gets one line when the agent's local checks change, not one per beat.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncssh
import httpx

from entrypoints.agent import health, ssh_server
from entrypoints.agent.api import AdminError, AgentApi, LoginMethod, Unreachable
from entrypoints.agent.executor import DEFAULT_OUTPUT_LIMIT
from entrypoints.agent.former_nodes import FormerNodes, clear_former_nodes
from entrypoints.agent.hosting import Hosting, HostingConfig
from entrypoints.agent.identity import Identity
from entrypoints.agent.journal import Journal
from entrypoints.agent.log_shipping import LogShipper
from entrypoints.agent.metrics import MetricsReporter
from entrypoints.agent.session import Admission, AgentFatal, Backoff, Keeper, Link, interval
from entrypoints.agent.work import WorkLoop

log = logging.getLogger("edge_agent")
RESTART_PAUSE = 5.0  # seconds before a failed reporting loop runs again
# An idle connection to the admin is kept this long: longer than the gaps between an agent's
# reports (10-15 s by default), so they all reuse one connection instead of opening one each,
# and shorter than the admin keeps it (HTTP_KEEP_ALIVE_SECONDS, 75 s) and than common proxies'
# idle timeouts (60 s and up), so the agent closes first and never sends on a connection the
# other side is closing. httpx's default, 5 s, reconnected for nearly every report.
ADMIN_KEEPALIVE_SECONDS = 50.0


@dataclass(frozen=True)
class AgentConfig:
    """What the agent was started with; `entrypoints.agent.cli` validates it."""

    admin_url: str
    id_type: str
    enrollment_key: str | None
    version: str
    self_update: bool = False
    state_dir: Path | None = None
    # The execution journal lives here whatever the id type (a random id keeps no identity).
    journal_dir: Path | None = None
    # A random agent that keeps records (it hosts containers, or was given a state dir) keeps
    # its node ids, their tokens and journals here, not in journal_dir (former_nodes.py).
    random_state_dir: Path | None = None
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    update_command: str | None = None
    limits: health.HealthLimits = field(default_factory=health.HealthLimits)
    request_timeout: float = 10.0
    # 0: no SSH server (the CLI's default is the admin's default ssh_port, 42222).
    ssh_host: str = "0.0.0.0"  # noqa: S104 - reached by operators over the network
    ssh_port: int = 0
    metrics_interval: float = 0.0  # 0: no metrics reports (the CLI's default is 15 s)
    hosting: HostingConfig | None = None  # None: this node runs no deployments
    backoff_base: float = 0.5
    backoff_cap: float = 30.0



async def keep_going(name: str, loop: Callable[[], Awaitable[None]],
                     pause: float = RESTART_PAUSE) -> None:
    """Runs a reporting loop for good. One that raises is logged and started again after
    `pause`: an answer nobody foresaw from the engine or the admin must not end the agent, whose
    heartbeat, commands and containers go on without the report. AgentFatal still ends it."""
    while True:
        try:
            await loop()
        except AgentFatal:
            raise
        except Exception:
            log.exception("the %s loop failed; starting it again in %.0f s", name, pause)
        await asyncio.sleep(pause)


class Agent:
    """Keeps one node enrolled and heartbeating; the other loops run beside `_heartbeat_loop`
    in `run` and share the session through `self.link`."""

    def __init__(self, config: AgentConfig, identity: Identity,
                 store: Keeper | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        ports = {"ssh_port": config.ssh_port} if config.ssh_port else {}
        admission = Admission(config.version, config.self_update, config.enrollment_key, ports)
        self.link = Link(admission, identity, store,
                         Backoff(config.backoff_base, config.backoff_cap, self.rng))
        self._failed_checks: frozenset[str] = frozenset()
        self.started = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set; raises AgentFatal if a loop cannot continue."""
        cfg = self.config
        headers = {"user-agent": f"edge-agent/{cfg.version}"}
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20,  # httpx's
                              keepalive_expiry=ADMIN_KEEPALIVE_SECONDS)
        async with httpx.AsyncClient(base_url=cfg.admin_url, headers=headers, limits=limits,
                                     timeout=cfg.request_timeout) as client:
            self.link.attach(AgentApi(client))
            # Bound before anything enrolls: a port in use stops the agent before it records a
            # node no one can reach (it enrolled, then exited, leaving a healthy ghost).
            ssh = await self._ssh_listen() if cfg.ssh_port else None
            stopping = asyncio.create_task(stop.wait(), name="stop")
            loops = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat")]
            if ssh is not None:
                loops.append(asyncio.create_task(ssh_server.serve(ssh), name="ssh"))
            if cfg.metrics_interval:
                reporter = MetricsReporter(self.link, self.started, cfg.version,
                                           cfg.metrics_interval)
                loops.append(asyncio.create_task(keep_going("metrics", reporter.run),
                                                 name="metrics"))
            hosting = Hosting(self.link, cfg.hosting) if cfg.hosting else None
            if hosting is not None:
                await hosting.open()
                shipper = LogShipper(hosting.runner, self.link)
                for name, report in (("host", hosting.report_host),
                                     ("telemetry", hosting.report_telemetry),
                                     ("runtime-logs", shipper.run)):
                    loops.append(asyncio.create_task(keep_going(name, report), name=name))
            loops.extend(self._work(hosting))
            try:
                await asyncio.wait([stopping, *loops], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (stopping, *loops):
                    task.cancel()
                results = await asyncio.gather(stopping, *loops, return_exceptions=True)
                if hosting is not None:
                    await hosting.close()
        for result in results:
            if isinstance(result, Exception):
                raise result

    def _work(self, hosting: Hosting | None) -> list[asyncio.Task[None]]:
        """The work loop; a random agent that keeps records has a journal per node and clears
        up after the nodes it no longer speaks for (former_nodes.py)."""
        cfg, nodes = self.config, self.link.store
        runner, probe = (hosting.runner, hosting.health.probe) if hosting else (None, None)
        if not isinstance(nodes, FormerNodes):
            if cfg.journal_dir is None:
                return []
            work = WorkLoop(self.link, Journal(cfg.journal_dir), cfg.output_limit,
                            cfg.update_command, runner, probe)
            return [asyncio.create_task(work.run(), name="work")]
        node_id = self.link.identity.node_id  # known after a self-update's re-exec
        work = WorkLoop(self.link, nodes.journal(node_id) if node_id else None,
                        cfg.output_limit, cfg.update_command, runner, probe, nodes.journal)
        docker = runner.docker if runner is not None else None
        api = self.link.api

        async def clear() -> None:
            await clear_former_nodes(nodes, api, docker, cfg.output_limit)

        return [asyncio.create_task(work.run(), name="work"),
                asyncio.create_task(keep_going("former-nodes", clear), name="former-nodes")]

    async def _ssh_listen(self) -> asyncssh.SSHAcceptor:
        cfg = self.config
        key = await asyncio.to_thread(ssh_server.host_key, cfg.state_dir)
        try:
            return await ssh_server.listen(
                cfg.ssh_host, cfg.ssh_port, key, self.check_login,
                lambda: self.link.counters.update(["ssh.connections_total"]))
        except OSError as exc:
            raise AgentFatal(f"cannot serve SSH on {cfg.ssh_host}:{cfg.ssh_port}: "
                             f"{exc.strerror or exc}") from exc

    async def check_login(self, username: str, method: LoginMethod, public_key: str | None,
                          password: str | None) -> bool:
        """Asks the admin; anything but a clear yes (admin unreachable, refused) is a no."""
        self.link.counters["ssh.authentications_total"] += 1
        try:
            session = await asyncio.wait_for(self.link.session(), self.config.request_timeout)
            verdict = await self.link.api.ssh_verify(session.api_token, username, method,
                                                     public_key=public_key, password=password)
        except (TimeoutError, Unreachable) as exc:
            log.warning("ssh login for %r refused: the admin could not be asked (%s)",
                        username, exc or "no session")
            return False
        except AdminError as exc:
            if exc.status == 401:  # the heartbeat loop re-enrolls; this attempt just fails
                self.link.drop(session, forget_token=False)
            log.warning("ssh login for %r refused: the admin answered %s", username, exc)
            return False
        return verdict.allowed

    async def _heartbeat_loop(self) -> None:
        link = self.link
        delay = 0.0
        while True:
            await asyncio.sleep(delay)
            session = await link.session()
            started = time.monotonic()
            try:
                reply = await link.api.heartbeat(session.api_token, self._check_health())
            except Unreachable as exc:
                delay = link.trouble("unreachable", f"admin unreachable: {exc}")
                continue
            except AdminError as exc:
                if exc.status == 401:  # node deleted or token revoked: enroll again at once
                    log.warning("admin refused the heartbeat (%s); enrolling again", exc)
                    link.drop(session, forget_token=True)
                    delay = 0.0
                else:
                    delay = link.trouble(f"refused {exc.status}",
                                         f"admin refused the heartbeat: {exc}")
                continue
            link.ok("heartbeating", f"heartbeating every {reply.heartbeat_interval_seconds:g}s "
                    f"as node {reply.node_id} (status {reply.status})")
            session.heartbeat_interval = interval(reply.heartbeat_interval_seconds)
            # Jitter only downwards: the admin's thresholds are multiples of the interval, so
            # an early beat is harmless and a late one could make the node look unhealthy.
            wait = session.heartbeat_interval * self.rng.uniform(0.85, 1.0)
            delay = max(0.0, wait - (time.monotonic() - started))

    def _check_health(self) -> Literal["healthy", "unhealthy"]:
        found = health.problems(self.config.limits)
        if frozenset(found) != self._failed_checks:
            if found:
                log.warning("local checks fail (%s); reporting unhealthy",
                            "; ".join(found.values()))
            else:
                log.info("local checks pass; reporting healthy")
            self._failed_checks = frozenset(found)
        return "unhealthy" if found else "healthy"
