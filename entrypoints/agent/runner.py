"""The agent's lifecycle: get a session from the admin (register, else enroll), then heartbeat.

Network trouble never ends the process: every call is retried with capped exponential
backoff, and the log gets one line when the agent's condition changes (admin unreachable,
reachable again, checks failing), not one per attempt. Only an operator can fix the one fatal
case, a revoked token with no ENROLLMENT_KEY to enroll again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from uuid import UUID

import httpx

from application.counters import Counters
from entrypoints.agent import health, ssh_server
from entrypoints.agent.api import AdminError, AgentApi, Unreachable
from entrypoints.agent.executor import DEFAULT_OUTPUT_LIMIT
from entrypoints.agent.hosting import Hosting, HostingConfig
from entrypoints.agent.identity import Identity, IdentityError, IdentityStore
from entrypoints.agent.journal import Journal
from entrypoints.agent.metrics import MetricsReporter
from entrypoints.agent.work import WorkLoop

log = logging.getLogger("edge_agent")
MIN_HEARTBEAT_INTERVAL = 0.1  # whatever the admin says, never a busy loop


class AgentFatal(Exception):
    """The agent cannot go on without an operator (e.g. it must enroll but has no key)."""


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


@dataclass
class Session:
    """A node the admin currently accepts, and the token to speak for it."""

    node_id: UUID
    api_token: str
    heartbeat_interval: float


class Backoff:
    """Capped exponential delays with jitter, so a fleet does not retry in lockstep."""

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self.base, self.cap, self.rng, self.failures = base, cap, rng, 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


class Agent:
    """Keeps one node enrolled and heartbeating; the work loop (entrypoints/agent/work.py)
    runs beside `_heartbeat_loop` in `run` and shares the session through `session()`/`drop()`."""

    def __init__(self, config: AgentConfig, identity: Identity,
                 store: IdentityStore | None = None, rng: random.Random | None = None) -> None:
        self.config, self.identity, self.store = config, identity, store
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.backoff = Backoff(config.backoff_base, config.backoff_cap, self.rng)
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._condition: str | None = None
        self._failed_checks: frozenset[str] = frozenset()
        self._api: AgentApi | None = None
        self.counters = Counters()
        self.started = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Runs until `stop` is set; raises AgentFatal if a loop cannot continue."""
        headers = {"user-agent": f"edge-agent/{self.config.version}"}
        async with httpx.AsyncClient(base_url=self.config.admin_url, headers=headers,
                                     timeout=self.config.request_timeout) as client:
            self._api = AgentApi(client)
            stopping = asyncio.create_task(stop.wait(), name="stop")
            loops = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat")]
            if self.config.ssh_port:
                loops.append(asyncio.create_task(self._ssh(), name="ssh"))
            if self.config.metrics_interval:
                reporter = MetricsReporter(self, self.config.metrics_interval)
                loops.append(asyncio.create_task(reporter.run(), name="metrics"))
            hosting = Hosting(self, self.config.hosting) if self.config.hosting else None
            if hosting is not None:
                await hosting.open()
                loops.append(asyncio.create_task(hosting.report_host(), name="host"))
                loops.append(asyncio.create_task(hosting.report_telemetry(), name="telemetry"))
            if self.config.journal_dir is not None:
                work = WorkLoop(self, Journal(self.config.journal_dir), self.config.output_limit,
                                self.config.update_command,
                                hosting.runner if hosting is not None else None)
                loops.append(asyncio.create_task(work.run(), name="work"))
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

    @property
    def api(self) -> AgentApi:
        if self._api is None:
            raise RuntimeError("Agent.run() has not started")
        return self._api

    async def session(self) -> Session:
        """The current session; connects first (as often as it takes) if there is none."""
        async with self._lock:
            while self._session is None:
                try:
                    self._session = await self._connect()
                except Unreachable as exc:
                    await asyncio.sleep(self._trouble("unreachable", f"admin unreachable: {exc}"))
                except AdminError as exc:
                    await asyncio.sleep(self._trouble(f"refused {exc.status}",
                                                      f"admin refused to take this node: {exc}"))
            return self._session

    async def reconnect(self, session: Session) -> Session:
        """Registers again (with the version this process runs); returns the new session."""
        self.drop(session, forget_token=False)
        return await self.session()

    def drop(self, session: Session, forget_token: bool) -> None:
        """Ends `session` (unless another loop already replaced it); the next call connects."""
        if self._session is session:
            self._session = None
            if forget_token:
                self._forget_token()

    def ports(self) -> dict[str, int]:
        """Ports reported at enrollment and registration (the admin defaults the rest)."""
        return {"ssh_port": self.config.ssh_port} if self.config.ssh_port else {}

    async def _ssh(self) -> None:
        cfg = self.config
        key = await asyncio.to_thread(ssh_server.host_key, cfg.state_dir)
        try:
            await ssh_server.serve(cfg.ssh_host, cfg.ssh_port, key, self.check_login,
                                   lambda: self.counters.add("ssh.connections_total"))
        except OSError as exc:
            raise AgentFatal(f"cannot serve SSH on {cfg.ssh_host}:{cfg.ssh_port}: "
                             f"{exc.strerror or exc}") from exc

    async def check_login(self, username: str, method: str, public_key: str | None,
                          password: str | None) -> bool:
        """Asks the admin; anything but a clear yes (admin unreachable, refused) is a no."""
        self.counters.add("ssh.authentications_total")
        try:
            session = await asyncio.wait_for(self.session(), self.config.request_timeout)
            verdict = await self.api.ssh_verify(session.api_token, username, method,
                                                public_key=public_key, password=password)
        except (TimeoutError, Unreachable) as exc:
            log.warning("ssh login for %r refused: the admin could not be asked (%s)",
                        username, exc or "no session")
            return False
        except AdminError as exc:
            if exc.status == 401:  # the heartbeat loop re-enrolls; this attempt just fails
                self.drop(session, forget_token=False)
            log.warning("ssh login for %r refused: the admin answered %s", username, exc)
            return False
        return verdict.allowed

    async def _connect(self) -> Session:
        token = self.identity.api_token
        cfg = self.config
        if token is not None:
            try:
                reply = await self.api.register(token, cfg.version, cfg.self_update,
                                                self.ports())
            except AdminError as exc:
                if exc.status != 401:
                    raise
                log.warning("admin does not accept this node's token any more (%s); "
                            "enrolling again", exc)
                self._forget_token()
            else:
                self._ok("connected", f"registered node {reply.node_id} in cluster "
                         f"{reply.cluster_name} (status {reply.status}, version {reply.version})")
                return Session(reply.node_id, token, _interval(reply.heartbeat_interval_seconds))
        if not cfg.enrollment_key:
            raise AgentFatal("this node must enroll again but ENROLLMENT_KEY is not set")
        enrolled = await self.api.enroll(cfg.enrollment_key, self.identity, cfg.version,
                                         cfg.self_update, self.ports())
        self._keep(replace(self.identity, node_id=enrolled.node_id,
                           api_token=enrolled.api_token))
        how = "re-enrolled existing" if enrolled.reregistered else "enrolled as"
        self._ok("connected", f"{how} {self.identity.id_type} node {enrolled.node_id} in "
                 f"cluster {enrolled.cluster_name} (status {enrolled.status}, "
                 f"version {enrolled.version})")
        return Session(enrolled.node_id, enrolled.api_token,
                       _interval(enrolled.heartbeat_interval_seconds))

    async def _heartbeat_loop(self) -> None:
        delay = 0.0
        while True:
            await asyncio.sleep(delay)
            session = await self.session()
            started = time.monotonic()
            try:
                reply = await self.api.heartbeat(session.api_token, self._check_health())
            except Unreachable as exc:
                delay = self._trouble("unreachable", f"admin unreachable: {exc}")
                continue
            except AdminError as exc:
                if exc.status == 401:  # node deleted or token revoked: enroll again at once
                    log.warning("admin refused the heartbeat (%s); enrolling again", exc)
                    self.drop(session, forget_token=True)
                    delay = 0.0
                else:
                    delay = self._trouble(f"refused {exc.status}",
                                          f"admin refused the heartbeat: {exc}")
                continue
            self._ok("heartbeating", f"heartbeating every {reply.heartbeat_interval_seconds:g}s "
                     f"as node {reply.node_id} (status {reply.status})")
            session.heartbeat_interval = _interval(reply.heartbeat_interval_seconds)
            # Jitter only downwards: the admin's thresholds are multiples of the interval, so
            # an early beat is harmless and a late one could make the node look unhealthy.
            interval = session.heartbeat_interval * self.rng.uniform(0.85, 1.0)
            delay = max(0.0, interval - (time.monotonic() - started))

    def _check_health(self) -> str:
        found = health.problems(self.config.limits)
        if frozenset(found) != self._failed_checks:
            if found:
                log.warning("local checks fail (%s); reporting unhealthy",
                            "; ".join(found.values()))
            else:
                log.info("local checks pass; reporting healthy")
            self._failed_checks = frozenset(found)
        return "unhealthy" if found else "healthy"

    def _trouble(self, condition: str, message: str) -> float:
        """Logs `message` if the condition is new; returns how long to wait before retrying."""
        delay = self.backoff.next()
        if condition != self._condition:
            log.warning("%s; retrying with backoff (up to %gs)", message, self.backoff.cap)
            self._condition = condition
        return delay

    def _ok(self, condition: str, message: str) -> None:
        """Logs `message` if the condition is new, and ends any backoff."""
        if self.backoff.failures:
            message = f"admin answers again after {self.backoff.failures} failed attempts; " \
                + message
        self.backoff.reset()
        if condition != self._condition:
            log.info("%s", message)
            self._condition = condition

    def _forget_token(self) -> None:
        self._keep(replace(self.identity, api_token=None))

    def _keep(self, identity: Identity) -> None:
        self.identity = identity
        if self.store is None:
            return
        try:
            self.store.save(identity)
        except IdentityError as exc:
            # The session still works; the cost is a fresh enrollment on the next start.
            log.error("%s; this node will have to enroll again after a restart", exc)


def _interval(seconds: float) -> float:
    return max(seconds, MIN_HEARTBEAT_INTERVAL)
