"""OpenAPI parts for Commands.Command, Commands.CommandExecution and SelfUpdates.Request."""

from __future__ import annotations

from typing import Any

TAGS: list[str] = []
OPERATIONS: dict[tuple[str, str], Any] = {}
RESOURCES: dict[str, Any] = {}
BODY_DOCS: dict[str, tuple[str, dict[str, str]]] = {}
