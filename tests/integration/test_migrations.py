"""Versioned migrations (adapters/migrate.py): they make exactly the tables the code defines,
a database made before migrations existed adopts them with its rows, a later migration applies
once on top keeping rows, and processes starting together apply each migration once (and make
the other tables one at a time)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.event_message_ids import table_statements
from adapters.migrate import FOLDER, migrate
from adapters.sql_delivery_queue import ATTEMPTS, DELIVERIES, _schema
from adapters.sql_dialect import Dialect
from entrypoints.bootstrap import build_services
from projections.fleet_tables import FLEET_TABLES
from projections.model import Table
from tests.conftest import PG_BASE, _pg_available, make_settings

pytestmark = pytest.mark.integration
KEPT = [t for t in FLEET_TABLES if not t.owned]  # the tables events cannot rebuild


# Columns a migration added to a kept table: a release before migrations made it without them.
ADDED_SINCE = {"deployment_progress": ("sequence",),
               "runtime_log_heads": ("place_timestamp", "last_stdout_place",
                                     "last_stderr_place")}


def _code_statements(postgres: bool, *, before_migrations: bool = False) -> list[str]:
    """What the code creates: the table definitions now, or a release before migrations."""
    dialect = Dialect(postgres=postgres)
    tables = [_without(t, ADDED_SINCE.get(t.name, ())) if before_migrations else t
              for t in KEPT]
    made = [s for t in tables for s in dialect.create(t)] + _schema(postgres, DELIVERIES, ATTEMPTS)
    # The message-id index came with migrations (0010): no release before them made it.
    return made if before_migrations else made + table_statements(postgres)


def _without(table: Table, added: tuple[str, ...]) -> Table:
    """The table without the columns `added` and its indexes on them."""
    return dataclasses.replace(
        table, columns=tuple(c for c in table.columns if c.name not in added),
        indexes=tuple(i for i in table.indexes if not set(i.split(", ")) & set(added)))


@pytest.fixture(params=["postgres", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not _pg_available():
        pytest.skip("needs PostgreSQL")
    return str(request.param)


class Database:
    """A fresh, empty database of one kind: its URL, statements and a description of it."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        if kind == "postgres":
            self.schema = "t_mig_" + uuid.uuid4().hex[:10]
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            self.url = f"{PG_BASE}?schema={self.schema}"
        else:
            self.path = tmp / f"{uuid.uuid4().hex}.db"
            self.url = f"sqlite:///{self.path}"

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "postgres":
            with psycopg.connect(PG_BASE, autocommit=True,
                                 options=f"-csearch_path={self.schema}") as conn:
                cur = conn.execute(statement.replace("?", "%s") if params else statement,
                                   params or None)
                return cur.fetchall() if cur.description else []
        with sqlite3.connect(self.path) as conn:
            return conn.execute(statement, params).fetchall()

    def shape(self) -> dict[str, list[tuple[str, str, bool]]]:
        """Each of our tables' columns: (name, type, nullable), in order; and its indexes."""
        if self.kind == "postgres":
            rows = self.execute(
                "SELECT table_name, column_name, data_type, is_nullable FROM "
                "information_schema.columns WHERE table_schema = current_schema() AND "
                "table_name NOT LIKE '%yoyo%' ORDER BY table_name, ordinal_position")
            shape: dict[str, list[Any]] = {}
            for table, column, kind, nullable in rows:
                shape.setdefault(table, []).append((column, kind, nullable == "YES"))
            for (index,) in self.execute("SELECT indexname FROM pg_indexes WHERE schemaname = "
                                         "current_schema() AND indexname NOT LIKE '%yoyo%'"):
                shape.setdefault("indexes", []).append((index, "", False))
        else:
            shape = {}
            tables = self.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                  "name NOT LIKE '%yoyo%' ORDER BY name")
            for (table,) in tables:
                info = self.execute(f"PRAGMA table_info({table})")
                shape[table] = [(c[1], c[2], not c[3]) for c in info]
            for (index,) in self.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                         "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE "
                                         "'%yoyo%'"):
                shape.setdefault("indexes", []).append((index, "", False))
        shape["indexes"] = sorted(shape.get("indexes", []))
        return shape

    def drop(self) -> None:
        if self.kind == "postgres":
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


@pytest.fixture
def fresh(kind: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Database] = []

    def make() -> Database:
        made.append(Database(kind, tmp_path))
        return made[-1]

    yield make
    for database in made:
        database.drop()


def test_migrations_make_exactly_the_tables_the_code_defines(kind: str, fresh: Any) -> None:
    migrated, defined = fresh(), fresh()
    assert migrate(migrated.url).applied == tuple(
        sorted(f.stem for f in (FOLDER / kind).glob("*.sql")))
    for statement in _code_statements(kind == "postgres"):
        defined.execute(statement)
    # A table definition changed without a migration (or the other way round) fails here.
    assert migrated.shape() == defined.shape()


def test_a_database_made_before_migrations_adopts_them_with_its_rows(
    kind: str, fresh: Any
) -> None:
    old = fresh()
    # as the previous release did
    for statement in _code_statements(kind == "postgres", before_migrations=True):
        old.execute(statement)
    node = str(uuid.uuid4())
    seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    old.execute("INSERT INTO rm_node_liveness (node_id, last_seen_at) VALUES (?, ?)",
                (node, seen if kind == "postgres" else seen.isoformat()))
    build_services(make_settings(old.url)).close()  # every start applies what is pending
    assert old.execute("SELECT node_id FROM rm_node_liveness") in ([(node,)], [(uuid.UUID(node),)])
    assert migrate(old.url).applied == ()



def test_progress_lines_kept_from_before_are_numbered_by_their_time(
    kind: str, fresh: Any, tmp_path: Path
) -> None:
    """0008 numbers each deployment's progress lines (what an events stream follows now);
    those kept from before get numbers in the order of their time."""
    database = fresh()
    folder = tmp_path / "before"
    shutil.copytree(FOLDER / kind, folder)
    for later in folder.glob("0008_*.sql"):
        later.unlink()
    migrate(database.url, folder)
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [("aaaaaaaaaaaa", 2, "a3"), ("aaaaaaaaaaaa", 0, "a1"), ("bbbbbbbbbbbb", 1, "b1"),
            ("aaaaaaaaaaaa", 1, "a2")]
    for request_id, seconds, message in rows:
        at = base.replace(second=seconds)
        database.execute(
            "INSERT INTO rm_deployment_progress (id, request_id, at, phase, level, message)"
            " VALUES (?, ?, ?, 'start', 'info', ?)",
            (str(uuid.uuid4()), request_id, at if kind == "postgres" else at.isoformat(),
             message))
    assert migrate(database.url).applied == ("0008_deployment_progress_sequence",)
    assert database.execute("SELECT message, sequence FROM rm_deployment_progress ORDER BY "
                            "message") == [("a1", 1), ("a2", 2), ("a3", 3), ("b1", 1)]

def test_a_later_migration_applies_once_on_top_keeping_rows(
    kind: str, fresh: Any, tmp_path: Path
) -> None:
    database = fresh()
    migrate(database.url)
    database.execute("INSERT INTO rm_node_images (node_id, images) VALUES (?, ?)",
                     (str(uuid.uuid4()), "|busybox|"))
    folder = tmp_path / "next"
    shutil.copytree(FOLDER / kind, folder)
    (folder / "9999_images_counted.sql").write_text(
        "ALTER TABLE rm_node_images ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;\n"
        "UPDATE rm_node_images SET image_count = 1;\n")
    report = migrate(database.url, folder)
    assert (report.applied, report.total) == (("9999_images_counted",),
                                              len(list(folder.glob("*.sql"))))
    assert database.execute("SELECT images, image_count FROM rm_node_images") == [
        ("|busybox|", 1)]
    assert migrate(database.url, folder).applied == ()


def test_processes_starting_together_apply_each_migration_once(
    fresh: Any, tmp_path: Path
) -> None:
    database = fresh()
    binary = Path(sys.executable).parent / "edge-admin"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": database.url}
    procs = [subprocess.Popen([str(binary), "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outcomes
    said = sorted(out.split(":")[0] for out, _ in outcomes)
    pending = len(list((FOLDER / "postgres").glob("*.sql")))
    assert said == [f"applied {pending} migration(s)", "up to date", "up to date"], outcomes


def test_processes_starting_together_on_a_new_database_all_start(
    fresh: Any, tmp_path: Path
) -> None:
    """Beyond the migrations, each start makes the event store's and read models' tables: of
    admins started together on a new PostgreSQL database, one died with a traceback
    (CREATE TABLE IF NOT EXISTS raced: pg_type_typname_nsp_index)."""
    database = fresh()
    binary = Path(sys.executable).parent / "edge-admin"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": database.url}
    procs = [subprocess.Popen([str(binary), "projections", "status"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outcomes = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outcomes
    assert all(out.startswith("projection fleet: ok, at 0 of 0") for out, _ in outcomes)


def test_a_migrator_killed_mid_way_does_not_lock_out_the_next_start(kind: str, tmp_path: Path
                                                                     ) -> None:
    """A lock row left by a process killed while migrating (its pid long gone) no longer makes
    every later start fail with yoyo's LockTimeout (seen: a relay SIGKILLed at start-up)."""
    db = Database(kind, tmp_path)
    migrate(db.url)
    now = "now()" if kind == "postgres" else "CURRENT_TIMESTAMP"
    db.execute(f"INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, {now}, 999999)")
    report = migrate(db.url)
    assert report.applied == () and report.total == len(list((FOLDER / kind).glob("*.sql")))
    assert db.execute("SELECT count(*) FROM yoyo_lock") == [(0,)]
