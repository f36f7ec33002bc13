"""One PostgreSQL pool per process for the event store, the read models, the relay's tracking
and the webhook deliveries: they live in one database, so separate pools only multiplied the
connections each admin holds (33 idle before; PostgreSQL allows 100 by default). Before the
pool opens, one plain connection says in one line what is wrong with DATABASE_URL, if anything,
and creates the `?schema=` it names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from eventsourcing.persistence import OperationalError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresTrackingRecorder
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import LockNotAvailable
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed
from psycopg_pool import PoolTimeout

from adapters.outage import Outage
from projections.status import StoreUnavailableError

APPLICATION_NAME = "POSTGRES_APPLICATION_NAME"
R = TypeVar("R", bound=PostgresTrackingRecorder)


class TimelyDatastore(PostgresDatastore):
    """eventsourcing's datastore, whose pool timeout says that the database is unavailable.
    eventsourcing turns it into its OperationalError, which its recorders retry ten times, so a
    read or write waited ten pool timeouts (50 s by default) with the database away, and a
    client gave up before hearing why. A connection that breaks in use is still retried (on
    another: the server restarted); waiting for one that never comes is not, nor waiting again
    for a table lock another session holds. Once one wait for a connection has timed out,
    callers are refused at once while one finds out whether it is back (Outage)."""

    outage: Outage  # set by NamedPostgresFactory, which makes the instance one of these

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        probe = self.outage.enter()
        try:
            with super().get_connection() as conn:
                self.outage.answered(probe)
                probe = False
                yield conn
        except OperationalError as exc:
            if isinstance(exc.__cause__, PoolTimeout):
                self.outage.timed_out(probe)
                probe = False
                raise self.outage.unavailable() from exc
            if isinstance(exc.__cause__, LockNotAvailable):
                # Another session (a VACUUM FULL, an ALTER TABLE, a manual LOCK) held a table
                # a save locks, past POSTGRES_LOCK_TIMEOUT. Retried ten times, a write waited
                # up to 100 s, and all writes of the process behind it.
                raise StoreUnavailableError(
                    f"a table stayed locked by another session for {self.lock_timeout} s"
                ) from exc
            raise
        finally:
            self.outage.left(probe)


class NamedPostgresFactory(PostgresFactory):
    """eventsourcing's factory, whose connections carry POSTGRES_APPLICATION_NAME, so an
    operator reading pg_stat_activity sees which process and pool holds them, and whose
    datastore answers a pool timeout as StoreUnavailableError (TimelyDatastore)."""

    datastore: TimelyDatastore

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # The factory builds its datastore inline from twenty settings; only get_connection
        # differs, so the instance takes the subclass rather than a second pool being built.
        self.datastore.__class__ = TimelyDatastore
        self.datastore.outage = Outage(self.datastore.pool.timeout)
        # psycopg's pool retries a lost connection at 1, 2, 4, 8... s for up to 5 min, so after
        # an outage it answered again only 2 to 10 s (and up to minutes) after the database
        # was back. Giving up an attempt after the pool's own timeout lets the next request
        # start a new one at once (ConnectionPool._maybe_grow_pool): at most 2 s between tries.
        self.datastore.pool.reconnect_timeout = self.datastore.pool.timeout
        name = self.env.get(APPLICATION_NAME)
        kwargs = self.datastore.pool.kwargs
        if name and isinstance(kwargs, dict):  # the pool is not open yet: no connection made
            kwargs["application_name"] = name


def tracking_recorder(datastore: PostgresDatastore, name: str, recorder_class: type[R],
                      **kwargs: Any) -> R:
    """A tracking recorder (a read model, the relay's position) on an existing pool, with the
    table the factory would have named `<name>_tracking`."""
    recorder = recorder_class(datastore, tracking_table_name=f"{name}_tracking", **kwargs)
    recorder.create_table()
    render_statements(recorder)
    return recorder


def pg_table(schema: str, name: str) -> Composed:
    """A table of ours by its schema-qualified name, quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def rendered(statement: Composed) -> SQL:
    """A composed statement as its final text. psycopg renders a Composed again at every
    execute, quoting each identifier anew: 28 µs for the store's lock, NOTIFY and top, against
    1 µs for the text; a write ran half a dozen such statements."""
    return SQL(statement.as_string(None))


def render_statements(recorder: object) -> None:
    """Renders, once, the composed statements a recorder keeps as attributes (eventsourcing's
    recorders compose theirs in __init__ and execute them as they are)."""
    for name, value in list(vars(recorder).items()):
        if isinstance(value, Composed):
            setattr(recorder, name, rendered(value))
        elif isinstance(value, list) and value and all(isinstance(v, Composed) for v in value):
            setattr(recorder, name, [rendered(v) for v in value])


class RelayTrackingRecorder(PostgresTrackingRecorder):
    """The relay's position, committed without waiting for the disk flush (one flush a
    published batch was as many as the writes' own at low load). A PostgreSQL crash may take
    the position back by the last moments' batches; the relay then publishes them again and
    JetStream drops them by message id, as after a relay crash between publishing and
    recording. An application crash loses nothing: the server flushes on its own."""

    def insert_tracking(self, tracking: Tracking) -> None:
        # Four round trips (BEGIN, the setting, the upsert, COMMIT). Pipelined into one they
        # cost more CPU here (psycopg's pipeline machinery: 350 µs against 230 µs a call); as
        # one autocommit statement (set_config in a CTE) 100 µs alone, yet writes beside it
        # cost 0.3 ms more CPU each in two A/B runs (bench/PROFILE.md), so not that either.
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL synchronous_commit TO OFF")
            self._insert_tracking(curs, tracking)


class DatabaseUnavailableError(Exception):
    """PostgreSQL cannot be used as DATABASE_URL says; the message says why and what to do, in
    one line (the pool would only say "couldn't get a connection after 5.00 sec")."""


def prepare_database(conninfo: str, schema: str, timeout: int = 5) -> bool:
    """Connects once before any pool does: raises DatabaseUnavailableError naming the cause
    (nothing listening, no such database or role, a refused password), and creates `schema`
    when it is missing. Returns whether it created the schema."""
    info = conninfo_to_dict(conninfo)
    where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
    database, user = info.get("dbname", "postgres"), info.get("user", "postgres")
    try:
        conn = psycopg.connect(conninfo, connect_timeout=timeout, autocommit=True)
    except psycopg.Error as exc:
        raise DatabaseUnavailableError(_why(exc, where, str(database), str(user))) from None
    with conn:
        if not schema:
            return False
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        except psycopg.errors.UniqueViolation:  # another process made it meanwhile (see above)
            return False
        except psycopg.errors.InsufficientPrivilege:
            raise DatabaseUnavailableError(
                f'schema "{schema}" does not exist in database "{database}" and role "{user}" '
                f'may not create it: as a superuser, CREATE SCHEMA "{schema}" AUTHORIZATION '
                f'"{user}"') from None
        return True


@contextmanager
def making_tables_alone(conninfo: str, schema: str, timeout: int = 5) -> Iterator[None]:
    """Holds a session advisory lock (per schema) while a process makes its tables. PostgreSQL's
    CREATE TABLE IF NOT EXISTS is no guard against the same create in another transaction: the
    second fails on the catalog's unique index (pg_type_typname_nsp_index), so of two admins
    started together on a new database one died with a traceback. The lock goes with its
    connection, so a process killed meanwhile does not hold the others up."""
    with psycopg.connect(conninfo, connect_timeout=timeout, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))",
                     (f"edge-admin tables {schema or 'public'}",))
        yield


def _why(exc: psycopg.Error, where: str, database: str, user: str) -> str:
    state = getattr(exc, "sqlstate", None)
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if state == "3D000" or f'database "{database}" does not exist' in text:
        return (f'database "{database}" does not exist on {where}: create it (createdb '
                f"{database}) or correct DATABASE_URL")
    if (state == "28000" or f'role "{user}" does not exist' in text) and "role" in text:
        return (f'role "{user}" does not exist on {where}: create it (createuser {user}) or '
                "correct DATABASE_URL")
    if state == "28P01" or "password authentication failed" in text:
        return f'PostgreSQL on {where} refused the password of role "{user}"'
    if "Connection refused" in str(exc):
        return f"nothing accepts connections on {where}: is PostgreSQL running there?"
    if "timeout" in str(exc).lower():
        return f"PostgreSQL on {where} did not answer within the connect timeout"
    return f"cannot connect to PostgreSQL on {where}: {text}"
