"""How a deployment's ports are published on the node, and reported to the admin.

The engine picks a free host port for each published port, but for each protocol apart: a
`TCP/UDP` port left to it got one host port for TCP and another for UDP, and only one of them
could be reported (a port has one `external`). So the agent picks the host port of a `TCP/UDP`
port itself, one free for both protocols when it looks (`shared_host_ports`), and binds both
to it. Something on the node may take it before the container starts: the engine then refuses
the start (CLASH) and the agent picks again (entrypoints/agent/containers.py). The look is on
the agent's own host, so it only helps when the engine runs there too; elsewhere the retries
alone find a port.
"""

from __future__ import annotations

import socket
from typing import Any

from application.agent_protocol import ContainerSpec, ReportedPort

SCHEMES = {"HTTP": "http", "HTTPS": "https", "WS": "ws", "WSS": "wss"}
BOTH = "TCP/UDP"
CLASH = "address already in use"  # in the engine's refusal of a start on a taken host port
PICK_TRIES = 20  # ports the kernel offers before one free for UDP too is given up on


def protocols(protocol: str) -> list[str]:
    return {"UDP": ["udp"], BOTH: ["tcp", "udp"]}.get(protocol, ["tcp"])


def free_for_both() -> int:
    """A host port free for both TCP and UDP on every interface right now."""
    for _ in range(PICK_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("", port))
                except OSError:
                    continue
                return port
    raise OSError(f"no host port free for both TCP and UDP in {PICK_TRIES} tries")


def shared_host_ports(spec: ContainerSpec) -> dict[int, int]:
    """The host port of each `TCP/UDP` container port of the spec (none: the engine picks)."""
    return {p.port: free_for_both() for p in spec.ports if p.protocol == BOTH}


def port_bindings(spec: ContainerSpec, host_ports: dict[int, int]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """ExposedPorts and HostConfig.PortBindings: the host port of `host_ports`, else the
    engine's pick ("")."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    for port in spec.ports:
        host = str(host_ports.get(port.port, ""))
        for proto in protocols(port.protocol):
            key = f"{port.port}/{proto}"
            exposed[key] = {}
            bindings[key] = [{"HostIp": "", "HostPort": host}]
    if spec.health is not None and f"{spec.health.port}/tcp" not in bindings:
        # Checked but not served: published for the agent's check alone, on loopback only.
        exposed[f"{spec.health.port}/tcp"] = {}
        bindings[f"{spec.health.port}/tcp"] = [{"HostIp": "127.0.0.1", "HostPort": ""}]
    return exposed, bindings


def reported_ports(spec: ContainerSpec, published: dict[str, Any], public_ip: str
                   ) -> dict[str, ReportedPort]:
    ports: dict[str, ReportedPort] = {}
    for port in spec.ports:
        # A TCP/UDP port's two bindings share one host port (see above): TCP's says it.
        key = f"{port.port}/{protocols(port.protocol)[0]}"
        binding = (published.get(key) or [{}])[0]
        external = int(binding.get("HostPort") or 0)
        scheme = SCHEMES.get(port.protocol)
        if scheme == "http" and port.tls_upgrade:
            scheme = "https"
        address = f"{public_ip}:{external}"
        ports[port.name] = ReportedPort(
            name=port.name, internal=port.port, external=external,
            protocol=port.protocol, tls_upgrade=port.tls_upgrade,
            link=f"{scheme}://{address}" if scheme else address, proxy=None,
        )
    return ports
