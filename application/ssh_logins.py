"""Login checks for the agents' SSH servers: every attempt is answered from the read model and
recorded (never the secret), and repeated failures per node and username are throttled."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from application.agent_protocol import CheckSshLogin
from application.ports import PasswordHasher, SshCredentials, StoredUsername
from application.write_path import UnitOfWork, WritePath
from domain.shared import InvalidValueError
from domain.ssh_access import LoginMethod, LoginOutcome, SshLogin
from domain.ssh_key import key_fingerprint


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None
    ssh_username_id: UUID | None


class FailureWindow:
    """Failed attempts per (node, username) in a sliding window; in memory, per admin process.

    Bounded: at most `max_keys` pairs are tracked, the least recently failed forgotten first.
    """

    def __init__(self, limit: int, window: timedelta, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: OrderedDict[tuple[UUID, str], deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, node_id: UUID, username: str, now: datetime) -> bool:
        """Whether an attempt may be checked now (False: rate limited). One that may counts as
        failed until `succeeded` says otherwise, decided under the lock: checking first and
        counting the failure after let concurrent attempts all pass the check (8 wrong
        passwords at once against a limit of 5)."""
        with self._lock:
            key = (node_id, username)
            times = self._failures.pop(key, None) or deque()
            while times and times[0] <= now - self.window:
                times.popleft()
            allowed = len(times) < self.limit
            if allowed:
                times.append(now)
            self._failures[key] = times
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
            return allowed

    def succeeded(self, node_id: UUID, username: str, now: datetime) -> None:
        """The attempt `begin` allowed at `now` did not fail: it no longer counts."""
        with self._lock:
            times = self._failures.get((node_id, username))
            if times is not None and now in times:
                times.remove(now)


class SshLogins:
    """Answers the agents' login checks."""

    def __init__(self, writes: WritePath, credentials: SshCredentials, hasher: PasswordHasher,
                 failures: FailureWindow) -> None:
        self.writes, self.credentials, self.hasher = writes, credentials, hasher
        self.failures = failures
        # Verified against when the username is unknown, so that case takes as long as a real one.
        self._decoy = hasher.hash("not a password of anyone")

    def verify(self, node_id: UUID, cmd: CheckSshLogin) -> Verdict:
        method = LoginMethod(cmd.method)
        fingerprint = self._fingerprint(cmd) if method is LoginMethod.PUBLICKEY else None
        password = self._password(cmd) if method is LoginMethod.PASSWORD else None
        now = self.writes.clock.now()
        found = self.credentials.username(node_id, cmd.username)
        if not self.failures.begin(node_id, cmd.username, now):
            outcome = LoginOutcome.RATE_LIMITED
        elif fingerprint is not None:
            outcome = self._check_key(found, fingerprint)
        else:
            outcome = self._check_password(found, password or "")
        if outcome is LoginOutcome.ACCEPTED:
            self.failures.succeeded(node_id, cmd.username, now)
        owner = found.id if found else None
        self._record(SshLogin(id=uuid4(), node_id=node_id, ssh_username_id=owner,
                              username=cmd.username, method=method.value,
                              outcome=outcome.value, fingerprint=fingerprint, at=now))
        accepted = outcome is LoginOutcome.ACCEPTED
        return Verdict(accepted, None if accepted else outcome.value, owner)

    def _check_key(self, found: StoredUsername | None, fingerprint: str) -> LoginOutcome:
        if found is None:
            return LoginOutcome.UNKNOWN_USERNAME
        if self.credentials.has_key(found.id, fingerprint):
            return LoginOutcome.ACCEPTED
        return LoginOutcome.UNKNOWN_KEY

    def _check_password(self, found: StoredUsername | None, password: str) -> LoginOutcome:
        if found is None or found.password_hash is None:
            self.hasher.verify(self._decoy, password)
            return LoginOutcome.UNKNOWN_USERNAME if found is None else LoginOutcome.NO_PASSWORD
        if self.hasher.verify(found.password_hash, password):
            return LoginOutcome.ACCEPTED
        return LoginOutcome.WRONG_PASSWORD

    @staticmethod
    def _fingerprint(cmd: CheckSshLogin) -> str:
        if cmd.public_key is None:
            raise InvalidValueError("can't be blank for method publickey", "public_key")
        return key_fingerprint(cmd.public_key)

    @staticmethod
    def _password(cmd: CheckSshLogin) -> str:
        if cmd.password is None:
            raise InvalidValueError("can't be blank for method password", "password")
        return cmd.password

    def _record(self, login: SshLogin) -> None:
        def decide(uow: UnitOfWork) -> None:
            uow.add(login)

        # Durable before the agent lets anyone in; no read model reads these records.
        self.writes.execute(decide, wait=False)
