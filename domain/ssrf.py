"""SSRF guard for webhook destinations: strict URL parsing and the IP/hostname deny lists.

Pure: the caller resolves names (adapters/resolver.py) and hands the addresses to `check_ips`.
The parser is deliberately stricter than RFC 3986 and WHATWG: anything two parsers could read
differently (userinfo, backslashes, whitespace, percent-encoded or non-ASCII hosts) is refused
or decoded before checking, and numeric hosts are read the way libc and browsers read them
(`2130706433`, `0x7f.1`, `0177.0.0.1` all mean 127.0.0.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import unquote

from domain.shared import InvalidValueError, ascii_digits

IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# WHATWG "ends in a number": a host whose last label is numeric must be an IPv4 address.
_NUMERIC_LABEL = re.compile(r"^([0-9]+|0x[0-9a-f]*)\Z")

# Names refused without asking DNS: they resolve through /etc/hosts or a cloud-local resolver,
# so the answer seen at check time says nothing about what the worker would reach.
DENIED_HOSTNAMES = {
    "localhost": "loopback",
    "localhost.localdomain": "loopback",
    "ip6-localhost": "loopback",  # Debian/Ubuntu /etc/hosts
    "ip6-loopback": "loopback",
    "metadata.google.internal": "cloud metadata",  # GCP
    "metadata.goog": "cloud metadata",  # GCP
    "metadata": "cloud metadata",  # GCP short name via the search domain
    "instance-data": "cloud metadata",  # AWS EC2 (resolves to 169.254.169.254)
    "instance-data.ec2.internal": "cloud metadata",
    "metadata.azure.com": "cloud metadata",  # Azure IMDS alias
}
DENIED_SUFFIXES = {".localhost": "loopback"}  # RFC 6761: always loopback

# Checked in order; the first match names the reason, so specific entries come first.
_IPV4_DENY: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("169.254.169.254/32", "cloud metadata"),  # AWS, GCP, Azure, OpenStack, Oracle
        ("169.254.170.2/32", "cloud metadata"),  # AWS ECS task credentials
        ("100.100.100.200/32", "cloud metadata"),  # Alibaba
        ("192.0.0.192/32", "cloud metadata"),  # Oracle Cloud (classic)
        ("168.63.129.16/32", "cloud metadata"),  # Azure WireServer: public range, host-only
        ("0.0.0.0/8", "unspecified"),  # Linux connects 0.0.0.0 to the local host
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("169.254.0.0/16", "link-local"),
        ("100.64.0.0/10", "CGNAT shared"),  # RFC 6598; our own VPN pools live here
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # deprecated 6to4 relay anycast
        ("198.18.0.0/15", "benchmarking"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_IPV6_DENY: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fd00:ec2::254/128", "cloud metadata"),  # AWS IMDS over IPv6
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),  # deprecated, still routed inside some networks
        ("fc00::/7", "unique-local"),
        ("ff00::/8", "multicast"),
        ("64:ff9b:1::/48", "private"),  # RFC 8215 local-use NAT64
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("2001:2::/48", "benchmarking"),
        ("2001::/23", "reserved"),  # IETF protocol assignments (Teredo handled before this)
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")  # everything else in IPv6 is unassigned or special
_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")


# A dataclass, not a msgspec.Struct: it never crosses the wire and msgspec cannot encode
# ipaddress values; the stored form of a webhook is its URL string.
@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A webhook URL taken apart once, so the checker and the sender read the same host."""

    scheme: str
    host: str  # lower case, no trailing dot; an IP literal in canonical form, IPv6 unbracketed
    port: int
    target: str  # path and query as sent on the request line; the fragment is dropped
    ip: IPAddress | None = None  # set when the host is an IP literal: no DNS involved

    @property
    def authority(self) -> str:
        """Host header value: the port only when it is not the scheme default."""
        host = f"[{self.host}]" if isinstance(self.ip, IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _refuse(message: str) -> InvalidValueError:
    return InvalidValueError(message, "url")


def _an(word: str) -> str:
    # Only "unspecified" among the reasons takes "an" ("unique-local" does not).
    return f"an {word}" if word[0] in "aeio" or word == "unspecified" else f"a {word}"


def parse_destination(url: str) -> Destination:
    """Parse an absolute http(s) URL or raise InvalidValueError naming what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii():  # IDN hosts must arrive as punycode; avoids Unicode digit/dot folding
        raise _refuse("URL must be ASCII (use punycode for IDN hosts, percent-encode the path)")
    if any(c <= " " or c == "\x7f" for c in url):
        raise _refuse("URL must not contain whitespace or control characters")
    if "\\" in url:  # browsers read "\" as "/", other parsers do not
        raise _refuse("URL must not contain backslashes")
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme not in DEFAULT_PORTS:
        raise _refuse("URL scheme must be http or https")
    rest = url[match.end() :] if match else url
    if not rest.startswith("//"):
        raise _refuse("URL must be absolute (scheme://host/...)")
    rest = rest[2:]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, target = rest[:end], rest[end:].split("#", 1)[0]
    if "@" in authority:
        raise _refuse("URL must not contain user info (user:password@)")
    host_text, port_text = _split_authority(authority)
    port = _parse_port(port_text, DEFAULT_PORTS[scheme])
    host, ip = _parse_host(host_text)
    if not target.startswith("/"):
        target = "/" + target
    return Destination(scheme=scheme, host=host, port=port, target=target, ip=ip)


def _split_authority(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise _refuse("unterminated IPv6 literal in URL host")
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            raise _refuse("unexpected characters after the IPv6 literal")
        return host, after[1:] if after else None
    host, colon, port = authority.partition(":")
    return host, port if colon else None


def _parse_port(text: str | None, default: int) -> int:
    if text is None:
        return default
    # An empty port ("host:/") is legal in RFC 3986 but a parser-confusion favourite: refuse it.
    if not ascii_digits(text) or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise _refuse("URL port must be a number from 1 to 65535")
    return int(text)


def _parse_host(text: str) -> tuple[str, IPAddress | None]:
    if not text:
        raise _refuse("URL must name a host")
    if text.startswith("["):
        return _parse_ipv6_literal(text[1:-1])
    # WHATWG percent-decodes hosts before using them, so "%31%32%37.0.0.1" is 127.0.0.1.
    # Checked for ASCII before lower(): "\u212a".lower() is "k".
    host = unquote(text, errors="replace") if "%" in text else text
    if not host.isascii():
        raise _refuse("URL host must be ASCII after percent-decoding")
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # "localhost." is the same name as "localhost"
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        ipv4 = parse_legacy_ipv4(host)
        if ipv4 is None:
            raise _refuse("URL host looks numeric but is not a valid IPv4 address")
        return str(ipv4), ipv4
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse("URL host is not a valid hostname")
    return host, None


def _parse_ipv6_literal(text: str) -> tuple[str, IPAddress]:
    if "%" in text:
        # Zones ("%25eth0") only mean something for link-local addresses on this host.
        raise _refuse("IPv6 zone identifiers are not allowed in webhook URLs")
    try:
        ip = IPv6Address(text)
    except ValueError:
        raise _refuse("URL host is not a valid IPv6 address") from None
    return str(ip), ip


def parse_legacy_ipv4(host: str) -> IPv4Address | None:
    """Read 1-4 dot-separated decimal/octal/hex parts the way inet_aton and WHATWG do."""
    parts = host.lower().split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if part.startswith("0x"):
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or any(c not in "0123456789abcdef"[:base] for c in digits):
            return None
        numbers.append(int(digits, base))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, n in enumerate(head):
        value += n << (8 * (3 - index))
    return IPv4Address(value)


def classify_ip(ip: IPAddress) -> str | None:
    """Why a connection to `ip` is refused, or None when it is a public unicast address."""
    if isinstance(ip, IPv4Address):
        return next((reason for net, reason in _IPV4_DENY if ip in net), None)
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d: a dual-stack socket connects over IPv4
        return classify_ip(ip.ipv4_mapped)
    if ip in _NAT64:  # 64:ff9b::a.b.c.d: the NAT64 gateway connects to the embedded address
        return classify_ip(IPv4Address(ip.packed[-4:]))
    if ip.sixtofour is not None:
        return classify_ip(ip.sixtofour)
    if ip.teredo is not None:  # 2001::/32: the relay forwards to the embedded client
        server, client = ip.teredo
        return classify_ip(client) or classify_ip(server)
    reason = next((reason for net, reason in _IPV6_DENY if ip in net), None)
    if reason is not None:
        return reason
    if ip in _IPV4_COMPATIBLE:  # deprecated ::a.b.c.d; name the embedded reason when there is one
        return classify_ip(IPv4Address(ip.packed[-4:])) or "reserved"
    return None if ip in _GLOBAL_UNICAST else "reserved"


def classify_hostname(host: str) -> str | None:
    """Why a hostname is refused before any DNS lookup, or None."""
    name = host.lower().removesuffix(".")
    if name in DENIED_HOSTNAMES:
        return DENIED_HOSTNAMES[name]
    return next((r for suffix, r in DENIED_SUFFIXES.items() if name.endswith(suffix)), None)


def check_ips(ips: Sequence[IPAddress], allow_private: bool) -> None:
    """Refuse unless every resolved address is allowed: one private answer is enough to refuse,
    because the sender may connect to any of them (and a rebinding DNS server picks which)."""
    if allow_private:
        return
    if not ips:
        raise _refuse("host does not resolve")
    for ip in ips:
        reason = classify_ip(ip)
        if reason is not None:
            raise _refuse(f"destination resolves to {_an(reason)} address ({ip})")


def check_destination(destination: Destination, allow_private: bool) -> None:
    """The checks that need no DNS: IP literals and denied hostnames."""
    if allow_private:
        return
    if destination.ip is not None:
        check_ips([destination.ip], allow_private)
        return
    reason = classify_hostname(destination.host)
    if reason is not None:
        raise _refuse(f"destination host {destination.host} is {_an(reason)} name")
