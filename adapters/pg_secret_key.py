"""The PostgreSQL default sealing key (no ENCRYPTION_KEY): a random key kept in the store's
schema, created by whichever process starts first, read by all the others.

It keeps sealed values independent of the API keys, but anyone who can read the database can
read the key too: ENCRYPTION_KEY is what protects secrets at rest.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from adapters.secret_box import derive_key, new_key_material

TABLE = "edge_secret_keys"
DEFAULT = "default"


def database_key(conninfo: str, schema: str = "", create: bool = True) -> bytes | None:
    """The stored key; created if missing when `create` (else None when there is none)."""
    table = sql.Identifier(schema or "public", TABLE)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        if not create:
            name = table.as_string(conn)
            exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if exists is None or exists[0] is None:
                return None
        else:
            with conn.transaction():
                # Two processes starting at once: CREATE ... IF NOT EXISTS alone can still race.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
                conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, "
                                     "key TEXT NOT NULL, created_at timestamptz NOT NULL "
                                     "DEFAULT now())").format(table))
            conn.execute(sql.SQL("INSERT INTO {} (id, key) VALUES (%s, %s) "
                                 "ON CONFLICT (id) DO NOTHING").format(table),
                         (DEFAULT, new_key_material()))
        row = conn.execute(sql.SQL("SELECT key FROM {} WHERE id = %s").format(table),
                           (DEFAULT,)).fetchone()
    return derive_key(str(row[0])) if row is not None else None
