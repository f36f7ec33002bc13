"""Shared fixtures: in-memory services, a throwaway SQLite file, a private PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from hypothesis import settings

from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from tests.fakes import FixedClock

PG_BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY = "test-api-key-0123456789"

# Property tests check behaviour, not speed (speed is measured in bench/): on the two shared
# cores, hypothesis's default 200 ms deadline failed correct examples of a pure function while
# other work ran (test_ssrf under a load average of 18).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def make_settings(database_url: str, **overrides: object) -> Settings:
    env = {"DATABASE_URL": database_url, "API_KEY": API_KEY, "MASTER_KEY": "test-master-key-xyz"}
    return Settings.from_env(env, **overrides)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def services(any_url: str) -> Iterator[Services]:
    """Started services on every persistence kind (any_url); a module that needs other
    settings defines its own `services`."""
    built = build_services(make_settings(any_url))
    built.start()
    yield built
    built.close()


@pytest.fixture
def memory_services() -> Iterator[Services]:
    services = build_services(make_settings("memory://"))
    services.start()
    yield services
    services.close()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/edge.sqlite3"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def pg_schema() -> Iterator[str]:
    """The name of a fresh schema in the test database, dropped afterwards; skips the test
    where PostgreSQL is not reachable. Its URL is f"{PG_BASE}?schema={schema}"."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable at " + PG_BASE)
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    with pg_schema() as schema:
        yield f"{PG_BASE}?schema={schema}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Parametrises a test over every persistence kind."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/edge.sqlite3"
    return str(request.getfixturevalue("pg_url"))
