"""The DestinationGuard port over the SSRF rules and the system resolver."""

from __future__ import annotations

from adapters.resolver import Resolver, SystemResolver, check_url
from domain.ssrf import Destination, IPAddress


class SsrfGuard:
    """Checks a URL at create time and returns pinned addresses at delivery time."""

    def __init__(self, allow_private: bool, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or SystemResolver()

    def check(self, url: str) -> None:
        check_url(url, self.resolver, self.allow_private)

    def pin(self, url: str) -> tuple[Destination, list[IPAddress]]:
        return check_url(url, self.resolver, self.allow_private)
