"""One log line per new trouble, not one per retry.

Background loops (the advisory lock, the LISTEN connection, webhook claims, the workers, the
relay) retry on their own until the database or broker is back. A database away for a minute
made them write a traceback each, every second or more: hundreds of lines saying one thing.
Each loop keeps a Trouble: the first failure of a kind is logged (with its traceback where it
may be a bug), a repeat of the same is not, and the first success after says it is over.
"""

from __future__ import annotations

import logging


class Trouble:
    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self.last: str | None = None  # the error being retried, None while all is well

    def failed(self, exc: BaseException, *, traceback: bool = False, where: str = "") -> None:
        """`where`: said after the name when it is logged (" at position 12")."""
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last:  # with its traceback at error level: it may be a bug
            self.log.log(logging.ERROR if traceback else logging.WARNING,
                         "%s failed%s; retrying: %s", self.what, where, error,
                         exc_info=exc if traceback else None)
        self.last = error

    def over(self, where: str = "") -> None:
        if self.last is not None:
            self.log.warning("%s works again%s", self.what, where)
            self.last = None
