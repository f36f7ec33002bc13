"""What a Resource's desired configuration may hold: its source image, runtime profile (command
and arguments), network profile (internal port and protocol) and health policy.

The bounds are shared with the HTTP edge (application/resources.py builds its request types from
them), so a value the edge lets through is one the aggregate accepts. `configuration_blockers`
is asked by the aggregate and by the read side's deployment plan alike.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from domain.shared import InvalidValueError

MAX_IMAGE = 512
MAX_COMMAND = 4096
MAX_ARGS = 64
MAX_PATH = 1024
MAX_SECONDS = 3600
MAX_RETRIES = 100
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*\Z")
PROTOCOLS = {"http": "HTTP", "tcp": "TCP", "udp": "UDP"}  # -> the Deployment spec's names
HEALTH_TYPES = ("http", "tcp")
DEFAULT_HEALTH: dict[str, Any] = {
    # Off by default: a running container is then the only check (as for every deployment).
    "enabled": False, "type": "http", "path": "/", "port": None, "expected_status": 200,
    "interval_seconds": 5, "timeout_seconds": 2, "retries": 3, "start_period_seconds": 0,
}


def check_image(image: str, field: str = "image") -> str:
    if not 1 <= len(image) <= MAX_IMAGE or not IMAGE.match(image):
        raise InvalidValueError(f"an image reference (registry/name:tag or @digest), at most"
                                f" {MAX_IMAGE} characters, no spaces", field)
    return image


def _check_free_text(value: str, field_name: str, limit: int) -> None:
    if len(value) > limit or "\0" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidValueError(f"at most {limit} characters, no NUL", field_name)


def check_runtime(command: str | None, args: list[str]) -> None:
    if command is not None:
        if not command.strip():
            raise InvalidValueError("must not be blank (omit it to keep the image's)", "command")
        _check_free_text(command, "command", MAX_COMMAND)
        try:
            shlex.split(command)
        except ValueError as exc:
            raise InvalidValueError(f"cannot be split into words ({exc})", "command") from None
    if len(args) > MAX_ARGS:
        raise InvalidValueError(f"at most {MAX_ARGS} arguments", "args")
    for i, arg in enumerate(args):
        _check_free_text(arg, f"args[{i}]", MAX_COMMAND)


def check_port(port: int | None, field_name: str) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise InvalidValueError("must be between 1 and 65535", field_name)


def _check_number(policy: dict[str, Any], name: str, low: int, high: int) -> None:
    value = policy[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValueError(f"must be an integer between {low} and {high}",
                                f"healthCheck.{name}")


def check_health_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """A complete policy (missing fields take DEFAULT_HEALTH's), each field within bounds."""
    unknown = set(policy) - set(DEFAULT_HEALTH)
    if unknown:
        raise InvalidValueError(f"unknown fields: {', '.join(sorted(unknown))}", "healthCheck")
    full = {**DEFAULT_HEALTH, **policy}
    if not isinstance(full["enabled"], bool):
        raise InvalidValueError("must be true or false", "healthCheck.enabled")
    if full["type"] not in HEALTH_TYPES:
        raise InvalidValueError(f"must be one of {', '.join(HEALTH_TYPES)}", "healthCheck.type")
    path = full["path"]
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH or any(
            ord(c) <= 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in path):
        raise InvalidValueError(f"an absolute path without spaces, at most {MAX_PATH}",
                                "healthCheck.path")
    if full["port"] is not None:
        _check_number(full, "port", 1, 65535)
    _check_number(full, "expected_status", 100, 599)
    _check_number(full, "interval_seconds", 1, MAX_SECONDS)
    _check_number(full, "timeout_seconds", 1, MAX_SECONDS)
    _check_number(full, "retries", 1, MAX_RETRIES)
    _check_number(full, "start_period_seconds", 0, MAX_SECONDS)
    return full


def configuration_blockers(archived: bool, image: str | None, health: dict[str, Any],
                           internal_port: int | None) -> list[str]:
    """Why this configuration cannot be deployed: Appaloft-style reason codes (the aggregate
    and the read side's plan ask the same rule)."""
    reasons = []
    if archived:
        reasons.append("resource-archived")
    if image is None:
        reasons.append("resource-source-missing")
    if health["enabled"] and health["port"] is None and internal_port is None:
        reasons.append("resource-health-port-missing")
    return reasons
