"""The PostgreSQL pool settings: DATABASE_POOL_SIZE bounds the one pool a process keeps, and
PGAPPNAME names its connections."""

from __future__ import annotations

import pytest

from entrypoints.settings import DATABASE_POOL_SIZE, Settings, SettingsError

PG = {"DATABASE_URL": "postgresql://u@db:5432/edge?schema=s", "API_KEY": "k"}


@pytest.mark.parametrize("size", [1, 2, 5, 8, 1000])
def test_the_store_pool_and_the_read_pool_share_database_pool_size(size: int) -> None:
    settings = Settings.from_env({**PG, "DATABASE_POOL_SIZE": str(size)})
    env = settings.persistence_env("edge")
    assert env["POSTGRES_POOL_SIZE"] == "1"  # one connection kept while idle
    store = 1 + int(env["POSTGRES_MAX_OVERFLOW"])
    assert store >= 1 and settings.read_pool_size() >= 0
    assert store + settings.read_pool_size() == size
    assert settings.read_pool_size() == size // 2


def test_the_default_pool_size_is_split_in_halves() -> None:
    settings = Settings.from_env(PG)
    store = 1 + int(settings.persistence_env("edge")["POSTGRES_MAX_OVERFLOW"])
    assert (store, settings.read_pool_size()) == (DATABASE_POOL_SIZE // 2,) * 2


def test_connections_are_named_by_pool_under_pgappname() -> None:
    assert Settings.from_env(PG).postgres_application_name("locks") == "edge-admin:locks"
    named = Settings.from_env({**PG, "PGAPPNAME": "eu-admin-2"})
    assert named.persistence_env("edge")["POSTGRES_APPLICATION_NAME"] == "eu-admin-2:store"


@pytest.mark.parametrize(("raw", "message"), [
    ("0", "expected an integer between 1 and 1000"),
    ("many", "expected an integer"),
])
def test_a_bad_pool_size_names_the_setting(raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**PG, "DATABASE_POOL_SIZE": raw})
    assert str(caught.value).startswith(f"DATABASE_POOL_SIZE={raw!r}: ")
    assert message in str(caught.value)
