"""Names that change, the rule Projects and Environments share: a name is 1 to MAX_NAME characters
of text, a new one is taken only while the aggregate takes changes, and the same name again
records nothing (a repeated rename is no event, so a client may retry it).

The mixin holds the rule only. Each aggregate keeps its own `@event("Renamed") def _renamed`,
whose topic (`domain.project:Project.Renamed`) is stored (see domain/soft_delete.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.shared import check_text

MAX_NAME = 100


def check_name(name: str) -> str:
    return check_text(name, "name", MAX_NAME)


class Renamable:
    """Mixed into an Aggregate with a `name`."""

    if TYPE_CHECKING:  # provided by the aggregate; declared here for the type checker only
        name: str

        def check_mutable(self) -> None: ...

        def _renamed(self, name: str, at: datetime) -> None: ...

    def rename(self, name: str, at: datetime) -> None:
        self.check_mutable()
        check_name(name)
        if name != self.name:
            self._renamed(name=name, at=at)
