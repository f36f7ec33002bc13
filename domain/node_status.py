"""A node's health as the admin sees it. Nodes record its transitions; placement, targeting and
the read side filter on it, so it stands apart from the Node aggregate."""

from __future__ import annotations

from enum import StrEnum


class NodeStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNREACHABLE = "unreachable"
