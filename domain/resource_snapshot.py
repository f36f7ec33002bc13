"""What one deployment of a Resource runs: an immutable snapshot of its configuration, taken
when the attempt is requested and stored whole in the Deployment's spec, so that a retry or a
rollback re-runs an earlier one exactly (`from_spec` is the exact inverse of `as_spec`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.resource_profiles import PROTOCOLS
from domain.variables import PRECEDENCE

DEFAULT_CPU_UNITS = 256  # what a resource's container gets (no profile sets it yet)
DEFAULT_MEMORY_MB = 256


@dataclass(frozen=True)
class ResourceSnapshot:
    """What one deployment runs, fixed when it is requested. Secrets stay sealed inside; the
    agent's work answer is the one place they are opened (application/deployment_work.py)."""

    resource_id: UUID
    environment_id: UUID
    project_id: UUID
    slug: str
    image: str
    command: str | None
    args: tuple[str, ...]
    internal_port: int | None
    protocol: str
    health: dict[str, Any]
    # The effective entries (each with its scope), both exposures, secrets sealed.
    variables: tuple[dict[str, Any], ...]
    precedence: tuple[str, ...] = PRECEDENCE
    cpu_units: int = DEFAULT_CPU_UNITS
    memory_mb: int = DEFAULT_MEMORY_MB
    # When it was taken (ISO 8601): a retry or a rollback re-runs it and keeps this time.
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unused yet; keeps from_spec total

    def as_spec(self) -> dict[str, Any]:
        """The Deployment spec: the keys every deployment has (image, ports, env, command...)
        plus the resource's own under `resource`. The container gets runtime variables."""
        ports = [] if self.internal_port is None else [{
            "port": self.internal_port, "protocol": PROTOCOLS[self.protocol],
            "name": str(self.internal_port), "tls_upgrade": False}]
        env = [_container_env(v) for v in self.variables if v["exposure"] == "runtime"]
        return {
            "app": self.slug, "version": "resource", "image": self.image, "ports": ports,
            "cpu_units": self.cpu_units, "memory_mb": self.memory_mb, "max_duration": 0,
            "command": self.command,
            "arguments": shlex.join(self.args) if self.args else None,
            "env": env, "tags": [], "health": dict(self.health),
            "resource": {
                "resource_id": str(self.resource_id),
                "environment_id": str(self.environment_id),
                "project_id": str(self.project_id), "args": list(self.args),
                "internal_port": self.internal_port, "protocol": self.protocol,
                "variables": [dict(v) for v in self.variables],
                "precedence": list(self.precedence), "created_at": self.created_at,
                **self.extra,
            },
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ResourceSnapshot:
        """The snapshot a Deployment ran (for a rollback or a retry); exact inverse of as_spec."""
        own = dict(spec["resource"])
        known = {"resource_id", "environment_id", "project_id", "args", "internal_port",
                 "protocol", "variables", "precedence", "created_at"}
        return cls(
            resource_id=UUID(own["resource_id"]), environment_id=UUID(own["environment_id"]),
            project_id=UUID(own["project_id"]), slug=spec["app"], image=spec["image"],
            command=spec["command"], args=tuple(own["args"]),
            internal_port=own["internal_port"], protocol=own["protocol"],
            health=dict(spec["health"]), variables=tuple(dict(v) for v in own["variables"]),
            precedence=tuple(own["precedence"]), cpu_units=spec["cpu_units"],
            memory_mb=spec["memory_mb"], created_at=own.get("created_at"),
            extra={k: v for k, v in own.items() if k not in known},
        )


def _container_env(entry: dict[str, Any]) -> dict[str, Any]:
    """In the format start_spec opens (application/apps.py: sealed_env)."""
    if entry["is_secret"]:
        return {"key": entry["key"], "value": None, "is_hidden": True, "sealed": entry["sealed"]}
    return {"key": entry["key"], "value": entry["value"], "is_hidden": False}
