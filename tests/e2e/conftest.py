"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from tests.e2e.podman_harness import engine

__all__ = ["engine"]
