"""The ports an edge agent listens on: the defaults a node gets for any it does not report, and
the check every registration passes (known names, valid port numbers)."""

from __future__ import annotations

from domain.shared import InvalidValueError

DEFAULT_PORTS: dict[str, int] = {
    "http_port": 44000,
    "http_proxy_port": 44880,
    "socks5_proxy_port": 44180,
    "ssh_port": 42222,
    "host_metrics_port": 49100,
    "wireguard_metrics_port": 49586,
}


def check_ports(ports: dict[str, int]) -> dict[str, int]:
    """All of a node's ports: the reported ones over the defaults. Raises InvalidValueError for
    an unknown name or a number outside 1..65535."""
    merged = dict(DEFAULT_PORTS)
    for name, value in ports.items():
        if name not in DEFAULT_PORTS:
            raise InvalidValueError("is not a known port", name)
        if not 1 <= value <= 65535:
            raise InvalidValueError("must be between 1 and 65535", name)
        merged[name] = value
    return merged
