"""Name resolution for the webhook SSRF guard: the only part of the check that does I/O."""

from __future__ import annotations

import socket
from ipaddress import ip_address
from typing import Protocol

from domain.shared import InvalidValueError
from domain.ssrf import Destination, IPAddress, check_destination, check_ips, parse_destination


class UnresolvedHostError(InvalidValueError):
    """DNS gave no answer: refused at create time, but only a transient failure at delivery."""


class Resolver(Protocol):
    """What check_url needs from DNS; tests pass a fake answering from a table."""

    def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """Resolves through getaddrinfo, the same resolver (hosts file, search domains) the
    delivery client would use, so the check sees what a connection would see."""

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            # AF_UNSPEC: both families, since the client may pick either one.
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise UnresolvedHostError("host does not resolve", "url") from None
        ips: list[IPAddress] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ip_address(sockaddr[0])
            if ip not in ips:  # one entry per address, kept in resolver order
                ips.append(ip)
        if not ips:
            raise UnresolvedHostError("host does not resolve", "url")
        return ips


def check_url(
    url: str, resolver: Resolver, allow_private: bool
) -> tuple[Destination, list[IPAddress]]:
    """Parse `url`, refuse denied destinations, and return it with the addresses it may use.

    Run at webhook create time and again before every delivery. IP literals are checked
    without DNS; names are resolved and EVERY answer must be allowed. The delivery code must
    connect to one of the returned addresses (sending the original Host header / SNI) rather
    than resolving the name again: a second lookup could return a different, private address
    (DNS rebinding) after the check passed. With `allow_private` only the syntax rules apply;
    names are still resolved so that there are addresses to pin to.
    """
    destination = parse_destination(url)
    check_destination(destination, allow_private)
    if destination.ip is not None:
        return destination, [destination.ip]
    ips = resolver.resolve(destination.host, destination.port)
    check_ips(ips, allow_private)
    return destination, ips
