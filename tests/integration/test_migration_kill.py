"""kill -9 in the middle of a migration, on PostgreSQL and SQLite: the next start applies it
whole, once, with no lock left behind; on PostgreSQL a migrator killed while it builds an index
concurrently leaves a build the next start finishes."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from adapters.migrate import FOLDER, migrate
from tests.conftest import PG_BASE, _pg_available
from tests.integration.test_concurrent_index_migration import (
    CONCURRENT,
    _deliveries,
    _index,
    _migrator,
)
from tests.integration.test_migrations import Database

pytestmark = pytest.mark.integration
PARTIAL = "CREATE TABLE h5_partial (n INTEGER);\nINSERT INTO h5_partial VALUES (1);\n"
SLOW = {  # a statement that runs for seconds, in the migration's transaction
    "postgres": "SELECT pg_sleep(60);\n",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
              "WHERE x < 1000000000) SELECT count(*) FROM c;\n",
}


def _folder(path: Path, kind: str, name: str, text: str) -> Path:
    shutil.copytree(FOLDER / kind, path)
    (path / f"{name}.sql").write_text(text)
    return path


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def _lock_held(database: Database) -> bool:
    return database.execute("SELECT count(*) FROM yoyo_lock") == [(1,)]


def test_a_migrator_killed_mid_migration_leaves_nothing_the_next_start_cannot_finish(
    database: Database, tmp_path: Path
) -> None:
    migrate(database.url)
    slow = _folder(tmp_path / "slow", database.kind, "9999_partial", PARTIAL + SLOW[database.kind])
    killed = _migrator(database.url, slow)
    _until(lambda: _lock_held(database), "migrating")
    time.sleep(1)  # inside the slow statement, after the table and its row
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL

    fast = _folder(tmp_path / "fast", database.kind, "9999_partial", PARTIAL)
    started = time.monotonic()
    assert migrate(database.url, fast).applied == ("9999_partial",)
    # PostgreSQL ran the dead migrator's statement on to its end (a minute here, a whole
    # index build in an upgrade, holding its locks) before it noticed the client was gone.
    assert time.monotonic() - started < 15
    assert database.execute("SELECT n FROM h5_partial") == [(1,)]  # nothing of the killed run
    assert database.execute("SELECT count(*) FROM yoyo_lock") == [(0,)]
    assert migrate(database.url, fast).applied == ()


def test_a_migrator_killed_during_a_concurrent_build_is_finished_by_the_next_start(
    tmp_path: Path,
) -> None:
    if not _pg_available():
        pytest.skip("needs PostgreSQL")
    database = Database("postgres", tmp_path)
    try:
        migrate(database.url)
        _deliveries(database, 100)
        folder = _folder(tmp_path / "next", "postgres", "9999_concurrent", CONCURRENT)
        with psycopg.connect(PG_BASE, options=f"-csearch_path={database.schema}") as writer:
            # An open write: the build waits for it, with its index already there, INVALID.
            writer.execute("UPDATE webhook_deliveries SET attempts = 1 WHERE position = 1")
            killed = _migrator(database.url, folder)
            _until(lambda: _index(database) == [(False,)], "building")
            killed.send_signal(signal.SIGKILL)
            killed.communicate()
            writer.rollback()
        report = migrate(database.url, folder)
        assert report.applied == ("9999_concurrent",)
        assert _index(database) == [(True,)]
    finally:
        database.drop()
