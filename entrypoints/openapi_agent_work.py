"""OpenAPI parts for the agent's work loop (/agent/v1/work and execution results)."""

from __future__ import annotations

from typing import Any

OPERATIONS: dict[tuple[str, str], Any] = {}
RESOURCES: dict[str, Any] = {}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {}
