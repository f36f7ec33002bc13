"""A migration marked `-- transactional: false` builds its index with CREATE INDEX CONCURRENTLY
on PostgreSQL (writes to the table go on meanwhile), as adapters/migrations/README.md says to
write one: an INVALID index an interrupted build left is built again, and a second process
starting meanwhile neither applies it twice nor stalls the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.migrate import FOLDER, migrate
from tests.conftest import PG_BASE, _pg_available
from tests.integration.test_migrations import Database

pytestmark = pytest.mark.integration
INDEX = "webhook_deliveries_h5_status_idx"
CONCURRENT = f"""-- transactional: false
-- Deliveries by status, built while deliveries are written (a test's migration).
DROP INDEX CONCURRENTLY IF EXISTS {INDEX};
CREATE INDEX CONCURRENTLY {INDEX} ON webhook_deliveries (status, updated_at);
"""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    if not _pg_available():
        pytest.skip("needs PostgreSQL")
    made = Database("postgres", tmp_path)
    yield made
    made.drop()


def _folder(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    folder = tmp_path / "next"
    shutil.copytree(FOLDER / "postgres", folder)
    for name, text in extra:
        (folder / f"{name}.sql").write_text(text)
    return folder


def _index(database: Database) -> list[tuple[bool]]:
    """[(valid,)] for the test's index, [] when there is none."""
    return [(bool(valid),) for (valid,) in database.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        f"WHERE c.relname = '{INDEX}' AND c.relnamespace = current_schema()::regnamespace")]


def _deliveries(database: Database, count: int) -> None:
    database.execute(
        "INSERT INTO webhook_deliveries (id, webhook_id, message_id, event_type, position, "
        "body, status, created_at, updated_at) SELECT gen_random_uuid(), gen_random_uuid(), "
        "gen_random_uuid(), 'edge.node.registered', n, '\\x00', 'pending', now(), now() "
        f"FROM generate_series(1, {count}) n")


def test_a_non_transactional_migration_builds_its_index_concurrently(
    database: Database, tmp_path: Path
) -> None:
    """CREATE INDEX CONCURRENTLY fails inside a transaction block: only a migration yoyo runs
    outside one applies."""
    migrate(database.url)
    _deliveries(database, 1000)
    report = migrate(database.url, _folder(tmp_path, ("9999_concurrent", CONCURRENT)))
    assert report.applied == ("9999_concurrent",)
    assert _index(database) == [(True,)]
    assert migrate(database.url, _folder(tmp_path / "again", ("9999_concurrent", CONCURRENT))
                   ).applied == ()


def test_an_invalid_index_an_interrupted_build_left_is_built_again(
    database: Database, tmp_path: Path
) -> None:
    """A concurrent build that fails or is cut off (its session ended, the server restarted)
    leaves an INVALID index of that name, which `IF NOT EXISTS` would keep for good."""
    migrate(database.url)
    _deliveries(database, 10)
    with pytest.raises(psycopg.errors.UniqueViolation):  # an INVALID index, as a cut-off build
        database.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON webhook_deliveries "
                         "(status)")
    assert _index(database) == [(False,)]
    migrate(database.url, _folder(tmp_path, ("9999_concurrent", CONCURRENT)))
    assert _index(database) == [(True,)]


def _migrator(url: str, folder: Path) -> subprocess.Popen[str]:
    code = ("import sys; from pathlib import Path; from adapters.migrate import migrate; "
            "print(','.join(migrate(sys.argv[1], Path(sys.argv[2])).applied))")
    return subprocess.Popen([sys.executable, "-c", code, url, str(folder)],
                            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_process_waiting_for_the_migration_lock_does_not_stall_a_concurrent_build(
    database: Database, tmp_path: Path
) -> None:
    """The waiting process held its wait inside one statement (`pg_advisory_lock`), so inside
    a snapshot; a concurrent build waits for every older snapshot to end, and the waiter for
    the builder's lock: both hung for good."""
    migrate(database.url)
    _deliveries(database, 1000)
    slow = "-- Holds the lock while the second process starts.\nSELECT pg_sleep(2);\n"
    folder = _folder(tmp_path, ("9998_slow", slow), ("9999_concurrent", CONCURRENT))
    first = _migrator(database.url, folder)
    deadline = time.monotonic() + 30
    while not _sleeping(database) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _migrator(database.url, folder)
    outcomes = []
    for proc in (first, second):
        try:
            outcomes.append(proc.communicate(timeout=60))
        except subprocess.TimeoutExpired:
            for hung in (first, second):
                hung.kill()
                hung.communicate()
            pytest.fail("the migrators hung: the concurrent build waits for the waiting one")
    assert [proc.returncode for proc in (first, second)] == [0, 0], outcomes
    applied = sorted((out.splitlines() or [""])[-1] for out, _ in outcomes)  # yoyo prints rows
    assert applied == ["", "9998_slow,9999_concurrent"], outcomes
    assert _index(database) == [(True,)]


def _sleeping(database: Database) -> bool:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                           "'SELECT pg_sleep(2)%%' AND state = 'active'").fetchone()
    return bool(row and row[0])
