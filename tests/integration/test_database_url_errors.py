"""A DATABASE_URL that cannot work is one line saying why (and exit 1), not a pool timeout or a
traceback; a `?schema=` that does not exist yet is created."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from adapters.pg_datastore import DatabaseUnavailableError, prepare_database
from tests.conftest import PG_BASE, _pg_available

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not _pg_available(), reason="needs PostgreSQL")]
HOST = "postgresql://{user}@127.0.0.1:{port}/{db}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.parametrize(("url", "says"), [
    (HOST.format(user="postgres", port=_closed_port(), db="test"), "is PostgreSQL running there"),
    (HOST.format(user="postgres", port=5432, db="no_such_db_x"),
     'database "no_such_db_x" does not exist on 127.0.0.1:5432: create it'),
    (HOST.format(user="no_such_role_x", port=5432, db="test"),
     'role "no_such_role_x" does not exist on 127.0.0.1:5432: create it'),
])
def test_each_cause_is_named(url: str, says: str) -> None:
    with pytest.raises(DatabaseUnavailableError) as raised:
        prepare_database(url, "")
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_schema_is_created_once() -> None:
    schema = "t_created_" + uuid.uuid4().hex[:8]
    try:
        assert prepare_database(PG_BASE, schema) is True
        assert prepare_database(PG_BASE, schema) is False
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_serve_says_it_in_one_line_and_exits_1(tmp_path: Path) -> None:
    url = HOST.format(user="postgres", port=5432, db="no_such_db_x")
    binary = Path(sys.executable).parent / "edge-admin"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": url}
    done = subprocess.run([str(binary), "serve", "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        'edge-admin: database "no_such_db_x" does not exist on 127.0.0.1:5432: create it'
        " (createdb no_such_db_x) or correct DATABASE_URL"]
