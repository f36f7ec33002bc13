"""Versioned migrations for the tables that cannot be rebuilt from events.

Read models are versioned and rebuilt from the log when they change (projections/versioning.py);
the tables that hold what no event holds (liveness, check-ins, host metrics, container logs and
samples, webhook deliveries and attempts, the projection's status) must instead be changed in
place, keeping their rows. Each change is a numbered SQL file per dialect in
adapters/migrations/<dialect>/, applied once, in order, and recorded in the database.

The tool is yoyo-migrations: plain SQL files (no ORM or model layer to keep beside our own table
definitions, unlike alembic, which needs SQLAlchemy), PostgreSQL through psycopg 3 and SQLite,
`?schema=` support, a lock so several processes starting at once apply each migration once, and
a maintained release line. `edge-admin serve` (and every command that opens the database)
applies what is pending at start; `edge-admin migrate` does it alone and says what it did.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse

from yoyo import get_backend, read_migrations
from yoyo.connections import parse_uri

from adapters.sql_dialect import Dialect
from projections.versioning import META, ReadModelVersion, refuse_newer

log = logging.getLogger(__name__)
# yoyo logs every statement at INFO; one line per applied migration (ours, below) is enough.
logging.getLogger("yoyo").setLevel(logging.WARNING)
FOLDER = Path(__file__).resolve().parent / "migrations"
LOCK_POLL = 0.2  # seconds between tries for the migration lock another process holds


@dataclass(frozen=True)
class MigrationReport:
    applied: tuple[str, ...]  # ids applied by this call, in order
    total: int  # migrations the release has, all applied once this returns


class DatabaseTooNewError(Exception):
    """A newer release migrated the database: this release's code would run on tables it does
    not know as if all were well (and a later start of the newer release would find rows this
    one wrote by its older rules)."""


def _refuse_a_newer_database(backend: Any, migrations: Any,
                             read_model: ReadModelVersion | None) -> None:
    """Refuses, before anything is applied, a database carrying migrations this release does
    not have or read models of a newer read-model version."""
    backend.ensure_internal_schema_updated()  # a new database: yoyo's tables made, empty
    known = {m.id for m in migrations}
    rows = backend.execute(backend.format_sql(
        "SELECT {quoted.migration_id} FROM {0.migration_table_quoted} "
        "ORDER BY {quoted.applied_at_utc}")).fetchall()
    unknown = [row[0] for row in rows if row[0] not in known]
    if unknown:
        raise DatabaseTooNewError(
            f"the database was migrated by a newer release (migrations this release does not "
            f"know: {', '.join(unknown)}): run that release or a later one (README: "
            f"Downgrades)")
    meta = Dialect(postgres=False).name(META.name)  # unqualified: yoyo's connection's schema
    if read_model is not None and meta in backend.list_tables():
        row = backend.execute(f"SELECT version FROM {meta} WHERE name = :name",  # noqa: S608
                              {"name": read_model.name}).fetchone()
        refuse_newer(read_model, None if row is None else row[0])


def backend_url(database_url: str) -> str:
    """yoyo's URL for our DATABASE_URL: psycopg 3 for PostgreSQL, `?schema=` kept."""
    parsed = urlparse(database_url)
    if parsed.scheme in ("postgresql", "postgres"):
        schema = parse_qs(parsed.query).get("schema", [""])[0]
        query = urlencode({"schema": schema}) if schema else ""
        return parsed._replace(scheme="postgresql+psycopg", query=query).geturl()
    if parsed.scheme == "sqlite":
        return database_url
    raise ValueError(f"no migrations for {parsed.scheme}:// databases")


def _with_options(url: str, options: str) -> str:
    parsed = urlparse(url)
    query = dict(parse_qsl(parsed.query))
    return parsed._replace(query=urlencode({**query, "options": options})).geturl()


def _take_over_the_lock(backend: Any) -> None:
    """yoyo's lock is a row: a process killed while migrating (kill -9, OOM) leaves it behind,
    and every later start then failed with LockTimeout until someone ran `yoyo break-lock`.
    Migrators of this release first take a session advisory lock, which PostgreSQL releases
    when its holder dies; whoever holds it is the only live migrator, so a lock row found then
    is a dead one's, and goes.

    Tried again and again, not waited for in `pg_advisory_lock`: a statement waiting holds a
    snapshot, and CREATE INDEX CONCURRENTLY (a non-transactional migration, see
    migrations/README.md) waits for every older snapshot to end, so the holder's build and
    the waiter waited for each other for good."""
    cursor = backend.connection.cursor()  # autocommit: idle between tries
    while not cursor.execute("SELECT pg_try_advisory_lock(hashtext('edge-admin migrations ' "
                             "|| current_schema()))").fetchone()[0]:
        time.sleep(LOCK_POLL)
    backend.break_lock()


@contextmanager
def _sqlite_migrator(database: str) -> Iterator[None]:
    """SQLite's take-over of a dead migrator's lock row: the only live migrator is whoever holds
    an exclusive flock on a file beside the database, which the kernel drops when its holder
    dies. (Not the database file itself: closing any descriptor of it would drop SQLite's own
    locks in this process.)"""
    if database in ("", ":memory:"):  # private to this connection: nobody else migrates it
        yield
        return
    with open(database + ".migrate-lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def migrate(database_url: str, folder: Path | None = None,
            read_model: ReadModelVersion | None = None) -> MigrationReport:
    """Applies every pending migration under the database's own migration lock; raises
    DatabaseTooNewError (or ReadModelTooNewError, given the release's `read_model`) for a
    database a newer release migrated, having applied nothing."""
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgres"
    migrations = read_migrations(str(folder or FOLDER / dialect))
    url = backend_url(database_url)
    backend = get_backend(url)
    if dialect == "postgres" and backend.connection.info.server_version >= 140000:
        # A migrator killed mid-statement (kill -9, OOM) left that statement running on the
        # server to its end, a whole index build holding its locks, before PostgreSQL saw the
        # client gone: the next start waited for it. Each of yoyo's connections (it opens one
        # per migration) now has the server look for its client every second.
        backend.connection.close()
        url = _with_options(url, "-c client_connection_check_interval=1000")
        backend = get_backend(url)
    try:
        with (_sqlite_migrator(parse_uri(url).database) if dialect == "sqlite"
              else contextlib.nullcontext()):
            if dialect == "postgres":
                _take_over_the_lock(backend)
            else:
                backend.break_lock()
            with backend.lock():
                _refuse_a_newer_database(backend, migrations, read_model)
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    applied = tuple(m.id for m in pending)
    for migration_id in applied:
        log.info("applied migration %s", migration_id)
    return MigrationReport(applied, len(migrations))
