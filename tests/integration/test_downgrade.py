"""Downgrades: a release started on a database a newer release migrated (migrations it does not
know, read models of a newer version) refuses it at start, with one line and exit code 1, and
applies nothing; so do `edge-admin migrate` and `replay`. Before, it ran on as if all were well
(`migrate` said "up to date")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.migrate import FOLDER, DatabaseTooNewError, migrate
from projections.fleet_tables import FLEET_VERSION
from projections.versioning import ReadModelTooNewError
from tests.integration.test_migrations import Database

pytestmark = pytest.mark.integration
NEWER = "9999_from_a_newer_release"
PORT = 18501  # this helper's range


def _migrated_by_a_newer_release(database: Database, tmp_path: Path) -> None:
    folder = tmp_path / "newer"
    shutil.copytree(FOLDER / database.kind, folder)
    (folder / f"{NEWER}.sql").write_text("CREATE TABLE newer_things (id INTEGER);\n")
    migrate(database.url, folder)


def _read_models_of_a_newer_release(database: Database) -> None:
    migrate(database.url)
    built = datetime.now(UTC)
    database.execute("INSERT INTO rm_read_model_meta (name, version, fingerprint, built_at) "
                     "VALUES (?, ?, ?, ?)",
                     (FLEET_VERSION.name, FLEET_VERSION.version + 1, "newer",
                      built if database.kind == "postgres" else built.isoformat()))


def test_migrations_it_does_not_know_are_refused_before_anything_is_applied(
    database: Database, tmp_path: Path
) -> None:
    _migrated_by_a_newer_release(database, tmp_path)
    applied = database.execute("SELECT count(*) FROM _yoyo_migration")
    with pytest.raises(DatabaseTooNewError, match=NEWER):
        migrate(database.url)
    assert database.execute("SELECT count(*) FROM _yoyo_migration") == applied
    assert database.execute("SELECT count(*) FROM yoyo_lock") == [(0,)]  # lock given back


def test_read_models_of_a_newer_version_are_refused_by_the_migrator(database: Database) -> None:
    _read_models_of_a_newer_release(database)
    with pytest.raises(ReadModelTooNewError, match=f"read-model version "
                                                   f"{FLEET_VERSION.version + 1}"):
        migrate(database.url, read_model=FLEET_VERSION)
    migrate(database.url)  # without the release's version (tests of migrations alone): no check


def _run(command: list[str], url: str, home: Path) -> tuple[int, str]:
    binary = Path(sys.executable).parent / "edge-admin"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "DATABASE_URL": url,
           "API_KEY": "test-api-key-0123456789"}
    with subprocess.Popen([str(binary), *command], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it ran on as if all were well
            proc.kill()
            _, err = proc.communicate()
            return -1, err
    return proc.returncode, err


@pytest.mark.parametrize("cause", ["migrations", "read models"])
@pytest.mark.parametrize("command", [["serve", "--port", str(PORT)], ["migrate"], ["replay"]],
                         ids=["serve", "migrate", "replay"])
def test_every_command_refuses_a_newer_database_with_one_line_and_exit_code_1(
    database: Database, tmp_path: Path, cause: str, command: list[str]
) -> None:
    if cause == "migrations":
        _migrated_by_a_newer_release(database, tmp_path)
        said = f"migrations this release does not know: {NEWER}"
    else:
        _read_models_of_a_newer_release(database)
        said = f"read-model version {FLEET_VERSION.version + 1}"
    code, err = _run(command, database.url, tmp_path)
    lines = [line for line in err.splitlines() if line.startswith("edge-admin:")]
    assert code == 1, err
    assert len(lines) == 1 and said in lines[0] and "run that release" in lines[0], err
    assert "Traceback" not in err
