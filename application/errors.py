"""Errors the application layer raises; entrypoints map each to one HTTP status."""

from __future__ import annotations

from domain.shared import DomainError


class NotFoundError(DomainError):
    """The addressed object does not exist (or was deleted)."""


class ConflictError(DomainError):
    """The write lost against concurrent writers more often than the retry budget allows."""


class ForbiddenError(DomainError):
    """The operation is switched off by configuration, or a credential presented for one
    object (a deployment's delete token) is not that object's."""


class UnauthorizedError(DomainError):
    """A credential (enrollment key, agent token) was not recognised."""


class NotSupportedError(DomainError):
    """Valid for the API the request follows, but it needs a feature this service does not
    have (`feature` names it, e.g. builds)."""

    def __init__(self, message: str, feature: str) -> None:
        super().__init__(message)
        self.feature = feature


class SecretUnavailableError(DomainError):
    """A sealed value the operation needs does not open: its key is missing from this process
    (logged and counted where it failed)."""


class ReadModelLagError(DomainError):
    """The write committed but the read model did not catch up in time (the projector waits
    for the database: a full disk, a table another session holds). Answered as a plain timeout
    ("retry"), the client sent it again and it was recorded twice: a command ran twice on every
    node it targets."""

    def __init__(self, position: int, waited: float) -> None:
        super().__init__(
            f"the change was recorded (position {position}), but the read model did not show "
            f"it within {waited:.0f} s; do not send it again: read it back once /readyz is "
            f"ready")
        self.position = position
