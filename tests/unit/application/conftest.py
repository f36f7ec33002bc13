"""Fixtures shared by the application service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings
from tests.fakes import FixedClock


@pytest.fixture
def clocked_services(clock: FixedClock) -> Iterator[Services]:
    """Started in-memory services on the `clock` fixture, so time moves only by hand."""
    services = build_services(make_settings("memory://"), clock=clock)
    services.start()
    yield services
    services.close()
