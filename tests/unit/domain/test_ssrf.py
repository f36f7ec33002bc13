"""SSRF guard: hostile webhook URLs are refused, public ones pass, DNS answers are all checked."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.resolver import SystemResolver, check_url
from domain.shared import InvalidValueError
from domain.ssrf import IPAddress, check_ips, classify_ip, parse_destination


class TableResolver:
    """Fake DNS answering from a table; records lookups so tests can see DNS was skipped."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append((host, port))
        if host not in self.table:
            raise InvalidValueError("host does not resolve", "url")
        return [ip_address(a) for a in self.table[host]]


DNS = {
    "example.com": ["93.184.216.34"],
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "xn--bcher-kva.example": ["93.184.216.35"],
    "under_score.example.com": ["93.184.216.36"],
    "rebind.example": ["127.0.0.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "mixed6.example": ["2606:4700::1111", "fd12::1"],
    "meta.example": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
}

HOSTILE = [
    # IPv4 loopback in every spelling libc and browsers accept
    ("http://127.0.0.1/", "loopback"),
    ("https://127.0.0.1:443/", "loopback"),
    ("http://127.0.0.1:8080/admin", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://0X7F.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0177.0000.0000.0001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://%31%32%37.0.0.1/", "loopback"),
    # IPv6 loopback and IPv4 embedded in IPv6
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::7f00:1]/", "loopback"),
    ("http://[64:ff9b::7f00:1]/", "loopback"),
    ("http://[64:ff9b::a00:1]/", "private"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://[::ffff:10.0.0.1]:443/", "private"),
    ("http://[::ffff:0:7f00:1]/", "reserved"),
    # cloud metadata
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://0xa9fea9fe/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://100.100.100.200/", "cloud metadata"),
    ("http://192.0.0.192/", "cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
    ("http://METADATA.google.internal./", "cloud metadata"),
    ("http://metadata/", "cloud metadata"),
    ("http://instance-data/", "cloud metadata"),
    # private, link-local, unspecified and other special ranges
    ("http://10.0.0.1/", "private"),
    ("http://10.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://192.0.2.1/", "documentation"),
    ("http://[2001:db8::1]/", "documentation"),
    # loopback names, refused without DNS
    ("http://localhost/", "loopback"),
    ("http://localhost:8080/", "loopback"),
    ("http://foo.localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://%6c%6f%63%61%6c%68%6f%73%74/", "loopback"),
    # names whose DNS answers are private, in full or in part
    ("http://rebind.example/", "loopback"),
    ("http://127.0.0.1.nip.io/", "loopback"),
    ("http://mixed.example/", "private address (10.0.0.5)"),
    ("http://mixed6.example/", "unique-local address (fd12::1)"),
    ("http://meta.example/", "cloud metadata"),
    ("http://nowhere.example/", "does not resolve"),
    # parser confusion and syntax
    ("http://user:pass@example.com/", "user info"),
    ("http://example.com@127.0.0.1/", "user info"),
    ("http://example.com\\@127.0.0.1/", "backslash"),
    ("http:\\\\127.0.0.1\\", "backslash"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("ftp://example.com/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:25/_HELO%20localhost", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("//example.com/", "scheme"),
    ("http:///path", "host"),
    ("http:/example.com/", "absolute"),
    ("http://exa mple.com/", "whitespace"),
    ("http://example.com/\n", "whitespace"),
    ("http://example.com\t/", "whitespace"),
    ("http://ex\x00ample.com/", "control"),
    ("http://ex%00ample.com/", "hostname"),
    ("http://ex%ffample.com/", "ASCII"),
    ("http://ex\u0430mple.com/", "ASCII"),
    ("http://\uff11\uff12\uff17.0.0.1/", "ASCII"),
    ("http://example.com:0/", "port"),
    ("http://example.com:65536/", "port"),
    ("http://example.com:/", "port"),
    ("http://example.com:80:80/", "port"),
    ("http://example.com:8o/", "port"),
    ("http://1.2.3.4.5/", "IPv4"),
    ("http://256.0.0.1/", "IPv4"),
    ("http://08.0.0.1/", "IPv4"),
    ("http://example.0x1/", "IPv4"),
    ("http://[::1/", "unterminated"),
    ("http://[::1]x/", "after the IPv6"),
    ("http://[::g]/", "IPv6"),
    ("http://a..b/", "hostname"),
    ("http://" + "a" * 2050 + ".com/", "longer than 2048"),
]

ALLOWED = [
    ("http://93.184.216.34/hook", "93.184.216.34", 80, "/hook"),
    ("https://[2606:4700::1111]/", "2606:4700::1111", 443, "/"),
    ("http://1.1.1.1:8080", "1.1.1.1", 8080, "/"),
    ("http://0x5db8d822/", "93.184.216.34", 80, "/"),
    ("http://[::ffff:93.184.216.34]/", "::ffff:5db8:d822", 80, "/"),
    ("http://[64:ff9b::5db8:d822]/", "64:ff9b::5db8:d822", 80, "/"),
    ("http://[2002:5db8:d822::1]/", "2002:5db8:d822::1", 80, "/"),
    ("https://example.com/hook", "example.com", 443, "/hook"),
    ("HTTPS://Example.COM./Path", "example.com", 443, "/Path"),
    ("http://example.com?q=1", "example.com", 80, "/?q=1"),
    ("https://hooks.example.com:8443/in?x=1#frag", "hooks.example.com", 8443, "/in?x=1"),
    ("https://xn--bcher-kva.example/", "xn--bcher-kva.example", 443, "/"),
    ("http://under_score.example.com/a%20b", "under_score.example.com", 80, "/a%20b"),
]


@pytest.mark.parametrize(("url", "why"), HOSTILE)
def test_hostile_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        check_url(url, TableResolver(DNS), allow_private=False)
    assert why in caught.value.message
    assert caught.value.field == "url"


@pytest.mark.parametrize(("url", "host", "port", "target"), ALLOWED)
def test_public_urls_are_allowed(url: str, host: str, port: int, target: str) -> None:
    destination, ips = check_url(url, TableResolver(DNS), allow_private=False)
    assert (destination.host, destination.port, destination.target) == (host, port, target)
    assert ips and all(classify_ip(ip) is None for ip in ips)


def test_ip_literals_and_denied_names_never_reach_dns() -> None:
    resolver = TableResolver(DNS)
    _, ips = check_url("http://93.184.216.34/", resolver, allow_private=False)
    assert ips == [IPv4Address("93.184.216.34")]
    for url in ("http://127.0.0.1/", "http://localhost/", "http://metadata.google.internal/"):
        with pytest.raises(InvalidValueError):
            check_url(url, resolver, allow_private=False)
    assert resolver.lookups == []


def test_every_resolved_address_is_returned_for_pinning() -> None:
    destination, ips = check_url("https://hooks.example.com/", TableResolver(DNS), False)
    assert [str(ip) for ip in ips] == DNS["hooks.example.com"]
    assert destination.authority == "hooks.example.com"


def test_authority_keeps_brackets_and_non_default_ports() -> None:
    assert parse_destination("https://[2606:4700::1111]:8443/").authority == (
        "[2606:4700::1111]:8443"
    )
    assert parse_destination("http://Example.com:80/").authority == "example.com"


def test_mixed_public_and_private_answers_are_refused() -> None:
    public, private = IPv4Address("93.184.216.34"), IPv4Address("192.168.0.7")
    check_ips([public], allow_private=False)
    with pytest.raises(InvalidValueError, match=r"private address \(192\.168\.0\.7\)"):
        check_ips([public, private], allow_private=False)
    with pytest.raises(InvalidValueError, match="does not resolve"):
        check_ips([], allow_private=False)


def test_unspecified_reason_reads_naturally() -> None:
    with pytest.raises(InvalidValueError, match=r"^destination resolves to an unspecified"):
        check_ips([IPv6Address("::")], allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://[::1]:8080/",
        "http://localhost/",
        "http://mixed.example/",
        "http://169.254.169.254/",
        "http://2130706433/",
    ],
)
def test_allow_private_lets_private_destinations_through(url: str) -> None:
    destination, ips = check_url(url, TableResolver(DNS), allow_private=True)
    assert ips and destination.scheme == "http"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://10.0.0.1/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://user:pass@10.0.0.1/", "user info"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://nowhere.example/", "does not resolve"),
    ],
)
def test_allow_private_still_applies_the_syntax_rules(url: str, why: str) -> None:
    with pytest.raises(InvalidValueError, match=why):
        check_url(url, TableResolver(DNS), allow_private=True)


def test_system_resolver_resolves_localhost_to_loopback_only() -> None:
    ips = SystemResolver().resolve("localhost", 80)
    assert ips and len(ips) == len(set(ips))
    assert all(ip.is_loopback for ip in ips)
    _, pinned = check_url("http://localhost:8080/", SystemResolver(), allow_private=True)
    assert pinned == ips


def test_system_resolver_refuses_what_does_not_resolve() -> None:
    # An empty name fails inside getaddrinfo without a DNS query.
    with pytest.raises(InvalidValueError, match="does not resolve"):
        SystemResolver().resolve("", 80)


def _spellings(n: int) -> list[str]:
    octets = IPv4Address(n).packed
    return [
        str(n),
        hex(n),
        f"0{n:o}",
        ".".join(f"0{b:o}" for b in octets),
        ".".join(hex(b) for b in octets),
        f"{octets[0]}.{octets[1]}.{n & 0xFFFF}",
        f"{hex(octets[0])}.0{n & 0xFFFFFF:o}",
    ]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_numeric_spellings_classify_like_the_dotted_form(n: int) -> None:
    dotted = IPv4Address(n)
    for spelling in _spellings(n):
        parsed = parse_destination(f"http://{spelling}/").ip
        assert parsed == dotted, spelling
        # libc's inet_aton is the parser a connect() by name would use.
        assert socket.inet_aton(spelling) == dotted.packed, spelling
        assert classify_ip(parsed) == classify_ip(dotted)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_mapped_and_nat64_forms_classify_like_the_embedded_address(n: int) -> None:
    v4 = IPv4Address(n)
    assert classify_ip(IPv6Address(f"::ffff:{v4}")) == classify_ip(v4)
    assert classify_ip(IPv6Address(f"64:ff9b::{v4}")) == classify_ip(v4)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("fe80::1%eth0", "link-local"),  # getaddrinfo returns scoped link-local answers
        ("2001:0:4136:e378:8000:63bf:a247:27dd", None),  # Teredo with public server and client
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo client 10.0.0.1
        ("::8.8.8.8", "reserved"),  # deprecated IPv4-compatible form, even for a public IPv4
        ("64:ff9b:1::a00:1", "private"),  # RFC 8215 local-use NAT64
        ("4000::1", "reserved"),  # outside 2000::/3, unassigned
        ("168.63.129.16", "cloud metadata"),  # Azure WireServer sits in public space
    ],
)
def test_classify_ip_edge_cases(address: str, reason: str | None) -> None:
    assert classify_ip(ip_address(address)) == reason
