"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from tests.e2e.agent_fixtures import agents, children, own_admin
from tests.e2e.podman_harness import engine

__all__ = ["agents", "children", "engine", "own_admin"]
