"""The agent's one session with the admin, shared by every loop (heartbeat, work, hosting,
metrics): register with the stored token, else enroll, as often as it takes.

Network trouble never ends the process: every attempt is retried with capped exponential
backoff, and the log gets one line when the link's condition changes (admin unreachable,
reachable again), not one per attempt. Only an operator can fix the one fatal case, a revoked
token with no ENROLLMENT_KEY to enroll again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol
from uuid import UUID

from entrypoints.agent.api import AdminError, AgentApi, Unreachable
from entrypoints.agent.identity import Identity, IdentityError

log = logging.getLogger("edge_agent")
MIN_HEARTBEAT_INTERVAL = 0.1  # whatever the admin says, never a busy loop


class AgentFatal(Exception):
    """The agent cannot go on without an operator (e.g. it must enroll but has no key)."""

    exit_code = 1


class EnrollmentRefused(AgentFatal):
    """The admin will never take this ENROLLMENT_KEY (unknown, or not a key blob at all): a
    retry cannot help, so the agent stops with its own exit status instead of retrying."""

    exit_code = 3


# 401: no such key; 422: not a key blob. A spent or expired key (403) can be given more uses
# or time by an operator, and a full cluster (409) can make room: those are retried.
REFUSED_KEY = (401, 422)


@dataclass
class Session:
    """A node the admin currently accepts, and the token to speak for it."""

    node_id: UUID
    api_token: str
    heartbeat_interval: float


@dataclass(frozen=True)
class Admission:
    """What the agent tells the admin when it registers or enrolls."""

    version: str
    self_update: bool
    enrollment_key: str | None
    ports: dict[str, int]


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


class Keeper(Protocol):
    """Where the identity the session enrolled is kept: a persistent agent's identity.json
    (IdentityStore), a random agent's record of its node ids (FormerNodes)."""

    def save(self, identity: Identity) -> None: ...


class Link:
    """Holds the current session; `session()` connects first if there is none, `drop()` ends
    one so the next caller connects again. The API client is attached once the run opens it.
    Every loop holds the link, so it also carries the agent's counters (its metrics report)."""

    def __init__(self, admission: Admission, identity: Identity, store: Keeper | None,
                 backoff: Backoff) -> None:
        self.admission, self.identity, self.store, self.backoff = (
            admission, identity, store, backoff)
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._condition: str | None = None
        self._api: AgentApi | None = None
        # Only the event loop's thread touches these: a plain Counter is enough.
        self.counters: Counter[str] = Counter()

    def attach(self, api: AgentApi | None) -> None:
        self._api = api

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
                    await asyncio.sleep(self.trouble("unreachable", f"admin unreachable: {exc}"))
                except AdminError as exc:
                    await asyncio.sleep(self.trouble(f"refused {exc.status}",
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

    def trouble(self, condition: str, message: str) -> float:
        """Logs `message` if the condition is new; returns how long to wait before retrying."""
        delay = self.backoff.next()
        if condition != self._condition:
            log.warning("%s; retrying with backoff (up to %gs)", message, self.backoff.cap)
            self._condition = condition
        return delay

    def ok(self, condition: str, message: str) -> None:
        """Logs `message` if the condition is new, and ends any backoff."""
        if self.backoff.failures:
            message = f"admin answers again after {self.backoff.failures} failed attempts; " \
                + message
        self.backoff.reset()
        if condition != self._condition:
            log.info("%s", message)
            self._condition = condition

    async def _connect(self) -> Session:
        token = self.identity.api_token
        adm = self.admission
        if token is not None:
            try:
                reply = await self.api.register(token, adm.version, adm.self_update, adm.ports)
            except AdminError as exc:
                if exc.status != 401:
                    raise
                log.warning("admin does not accept this node's token any more (%s); "
                            "enrolling again", exc)
                self._forget_token()
            else:
                self.ok("connected", f"registered node {reply.node_id} in cluster "
                        f"{reply.cluster_name} (status {reply.status}, version {reply.version})")
                return Session(reply.node_id, token, interval(reply.heartbeat_interval_seconds))
        if not adm.enrollment_key:
            raise AgentFatal("this node must enroll again but ENROLLMENT_KEY is not set")
        # Once sent, an enrollment may be committed by the admin whatever happens here: a stop
        # that arrives meanwhile waits for the answer (at most the request timeout) and keeps
        # its token, else a restart would spend a use of the key, or find it spent.
        sending = asyncio.ensure_future(self._enroll(adm.enrollment_key))
        try:
            return await asyncio.shield(sending)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await sending
            raise

    async def _enroll(self, key: str) -> Session:
        adm = self.admission
        try:
            enrolled = await self.api.enroll(key, self.identity, adm.version,
                                             adm.self_update, adm.ports)
        except AdminError as exc:
            if exc.status in REFUSED_KEY:
                raise EnrollmentRefused(
                    f"the admin refuses ENROLLMENT_KEY ({exc}); create a key with POST "
                    "/api/v1/clusters/{name}/enrollment_keys and set its key blob as "
                    "ENROLLMENT_KEY") from exc
            raise
        self._keep(replace(self.identity, node_id=enrolled.node_id,
                           api_token=enrolled.api_token))
        how = "re-enrolled existing" if enrolled.reregistered else "enrolled as"
        self.ok("connected", f"{how} {self.identity.id_type} node {enrolled.node_id} in "
                f"cluster {enrolled.cluster_name} (status {enrolled.status}, "
                f"version {enrolled.version})")
        return Session(enrolled.node_id, enrolled.api_token,
                       interval(enrolled.heartbeat_interval_seconds))

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


def retry_delay(failures: int) -> float:
    """The pause before sending again what the admin has not taken (a report, a result, a
    work poll): 1 s doubling up to 30 s. No jitter: each node's failures start at its own time."""
    return min(30.0, 0.5 * 2.0 ** min(failures, 6))


def interval(seconds: float) -> float:
    return max(seconds, MIN_HEARTBEAT_INTERVAL)
