"""Agent API work loop: long-poll for executions, cancels and self-updates; report results."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
