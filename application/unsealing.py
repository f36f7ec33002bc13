"""Sealed values that do not open: loud, never silent.

A sealed value that does not open means the key that sealed it is missing from this process
(ENCRYPTION_KEY lost a key, or the previous release's key came from an API key that changed).
Every use of that value then fails the same way, so each object is logged once (again at most
every LOG_EVERY seconds, not at every retry), every failure is counted for the metrics, and
readiness reports the objects still in use: until the object is gone, or the process restarts
with the key back in ENCRYPTION_KEY.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from application.ports import UnsealError

log = logging.getLogger(__name__)

HINT = "list the key that sealed it in ENCRYPTION_KEY (README: key rotation)"


@dataclass
class Unsealable:
    """One object whose sealed value did not open in this process."""

    what: str  # "webhook <id>", "deployment <request id>"
    failures: int
    logged_at: float
    exists: Callable[[], bool] | None  # False once the object is gone (None: kept until restart)


class UnsealFailures:
    """Thread-safe; shared by everything in the process that opens sealed values."""

    LOG_EVERY = 600.0
    RECHECK_EVERY = 5.0  # how often readiness asks whether failed objects still exist
    MAX_TRACKED = 1000  # objects beyond this are counted, neither tracked nor logged

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = 0  # every failed open, for the metrics
        self.overflowed = False
        self._objects: dict[str, Unsealable] = {}
        self._rechecked: float | None = None
        self._lock = threading.Lock()

    def failed(self, what: str, error: UnsealError,
               exists: Callable[[], bool] | None = None) -> None:
        now = self.clock()
        with self._lock:
            self.total += 1
            known = self._objects.get(what)
            if known is None and len(self._objects) >= self.MAX_TRACKED:
                first, self.overflowed = not self.overflowed, True
                if first:
                    log.error("more than %d objects cannot be unsealed; further ones are only "
                              "counted: %s", self.MAX_TRACKED, HINT)
                return
            if known is not None:
                known.failures += 1
                if now - known.logged_at < self.LOG_EVERY:
                    return
                known.logged_at, repeat = now, known.failures
            else:
                self._objects[what] = Unsealable(what, 1, now, exists)
                repeat = 1
        more = f" ({repeat} failures so far)" if repeat > 1 else ""
        log.error("%s cannot be unsealed: %s; %s%s", what, error, HINT, more)

    def unsealable(self) -> list[Unsealable]:
        """The objects still failing, those now gone dropped (checked every RECHECK_EVERY s)."""
        now = self.clock()
        with self._lock:
            recheck = self._rechecked is None or now - self._rechecked >= self.RECHECK_EVERY
            if recheck:
                self._rechecked = now
            objects = list(self._objects.values())
        if recheck:
            gone = {o.what for o in objects if o.exists is not None and not _exists(o)}
            if gone:
                with self._lock:
                    for what in gone:
                        self._objects.pop(what, None)
                objects = [o for o in objects if o.what not in gone]
        return objects

    def summary(self) -> str | None:
        """One line for readiness, None when nothing fails. /readyz answers anyone: the line
        names no object and no key id (the log does)."""
        count = len(self.unsealable())
        if not count:
            return None
        more = " or more" if self.overflowed else ""
        return (f"{count}{more} sealed value{'s' if count > 1 else ''} cannot be unsealed: the "
                "key that sealed them is missing from ENCRYPTION_KEY (the error log names them)")


def _exists(unsealable: Unsealable) -> bool:
    assert unsealable.exists is not None
    try:
        return unsealable.exists()
    except Exception:  # the database may be away: keep reporting it
        log.debug("could not check whether %s still exists", unsealable.what, exc_info=True)
        return True
