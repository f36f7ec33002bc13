"""Projections are total: no command sequence a client can send stops the read model, and a
replay rebuilds exactly what was projected live (memory store; tests/integration runs the same
machine on PostgreSQL)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from tests.totality import TotalityMachine


class MemoryTotality(TotalityMachine):
    def database_url(self) -> str:
        return "memory://"


MemoryTotality.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_projections_are_total_on_memory = MemoryTotality.TestCase
