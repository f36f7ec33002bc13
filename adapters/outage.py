"""A pool's knowledge that the database is away, so that requests do not each find it out.

Without it every request, while the database was away, waited the pool's whole timeout (5 s)
before its 503: under load they piled up by the thousand, and writes queued behind the worker
threads ran minutes later, long after their clients had given up. Once one wait for a
connection has timed out, requests are refused at once, and one at a time (the probe) waits as
before to find out whether the database is back; the first connection had clears it.
"""

from __future__ import annotations

import threading

from projections.status import StoreUnavailableError


class Outage:
    def __init__(self, timeout: float) -> None:
        """`timeout`: the pool's own, named in the refusals."""
        self.timeout = timeout
        self.away = False  # read without the lock on every request: the usual case costs that
        self._probing = False
        self._lock = threading.Lock()

    def unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"the database gave no connection within {self.timeout:g} s")

    def enter(self) -> bool:
        """Before waiting for a connection: True when this caller is the probe (it must end
        with `answered`, `timed_out` or `left`); raises StoreUnavailableError while the
        database is known to be away and another caller is already finding out."""
        if not self.away:
            return False
        with self._lock:
            if not self.away:
                return False
            if self._probing:
                raise self.unavailable()
            self._probing = True
            return True

    def answered(self, probe: bool) -> None:
        if self.away or probe:
            with self._lock:
                self.away = False
                self._probing = self._probing and not probe

    def timed_out(self, probe: bool) -> None:
        with self._lock:
            self.away = True
            self._probing = self._probing and not probe

    def left(self, probe: bool) -> None:
        """The probe ended otherwise (cancelled, another error): the next caller probes."""
        if probe:
            with self._lock:
                self._probing = False
