"""The PostgreSQL pool settings: DATABASE_POOL_SIZE bounds the one pool a process keeps, and
PGAPPNAME names its connections."""

from __future__ import annotations

import pytest

from entrypoints.settings import DATABASE_POOL_SIZE, Settings, SettingsError

PG = {"DATABASE_URL": "postgresql://u@db:5432/edge?schema=s", "API_KEY": "k"}


def test_the_pool_keeps_one_connection_and_grows_to_database_pool_size() -> None:
    env = Settings.from_env({**PG, "DATABASE_POOL_SIZE": "5"}).persistence_env("edge")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("1", "4")
    default = Settings.from_env(PG).persistence_env("edge")
    assert int(default["POSTGRES_MAX_OVERFLOW"]) + 1 == DATABASE_POOL_SIZE


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
