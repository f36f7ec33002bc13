"""edge-agent flags for hosting deployments: the container engine, the address players reach,
and what the node tells placement (location, capacity, private fleet)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from entrypoints.agent.hosting import HostingConfig

PLACE_FLAGS = ("city", "country", "continent", "administrative_division", "timezone")


class HostingSettingsError(ValueError):
    """A hosting flag has a value the agent cannot run with."""


def add_hosting_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deployments (containers)")
    group.add_argument("--docker-url", metavar="URL",
                       help="Docker-API engine to run deployments on, e.g."
                       " unix:///run/podman/podman.sock (default: $DOCKER_HOST; unset: this"
                       " node runs no deployments)")
    group.add_argument("--public-ip", metavar="IP",
                       help="address players reach published ports on (default: the local"
                       " address used to reach the admin)")
    group.add_argument("--latitude", type=float)
    group.add_argument("--longitude", type=float)
    for name in PLACE_FLAGS:
        group.add_argument("--" + name.replace("_", "-"), dest=name, metavar="TEXT")
    group.add_argument("--cpu-units", type=int, metavar="N",
                       help="capacity offered to deployments, 1024 per vCPU (default: all"
                       " cores, unless the operator set it)")
    group.add_argument("--memory-mb", type=int, metavar="N",
                       help="memory offered to deployments (default: all, unless set)")
    group.add_argument("--fleet", metavar="NAME", help="private fleet this node belongs to")
    group.add_argument("--telemetry-interval", type=float, default=10.0, metavar="S",
                       help="seconds between container log tails and resource samples sent"
                       " to the admin (default: %(default)s)")


def _local_address(admin_url: str) -> str:
    """The source address the kernel picks to reach the admin (no packet is sent)."""
    parts = urlsplit(admin_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return str(probe.getsockname()[0])


def hosting_config(args: argparse.Namespace, env: Mapping[str, str],
                   admin_url: str) -> HostingConfig | None:
    url = (args.docker_url or env.get("DOCKER_HOST", "")).strip()
    if not url:
        return None
    if (args.latitude is None) != (args.longitude is None):
        raise HostingSettingsError("--latitude and --longitude go together")
    if args.latitude is not None and not (-90 <= args.latitude <= 90
                                          and -180 <= args.longitude <= 180):
        raise HostingSettingsError("--latitude must be within ±90 and --longitude ±180")
    for name in ("cpu_units", "memory_mb"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1 << 40:
            raise HostingSettingsError(f"--{name.replace('_', '-')} must be 0 or more")
    if not 0.5 <= args.telemetry_interval <= 3600:
        raise HostingSettingsError("--telemetry-interval must be between 0.5 and 3600 seconds")
    public_ip = args.public_ip or _local_address(admin_url)
    try:
        ipaddress.ip_address(public_ip)
    except ValueError:
        raise HostingSettingsError(f"--public-ip {public_ip!r} is not an IP address") from None
    location = {n: getattr(args, n) for n in (*PLACE_FLAGS, "latitude", "longitude")
                if getattr(args, n) is not None}
    return HostingConfig(url, public_ip, location, args.cpu_units, args.memory_mb, args.fleet,
                         args.telemetry_interval)
