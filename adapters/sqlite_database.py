"""Checks an SQLite DATABASE_URL before anything opens it, so a file the service cannot use is
one line saying why (exit 1), as for PostgreSQL: the library and the migrations would each
stop the start with a traceback ("unable to open database file", "file is not a database")."""

from __future__ import annotations

import os
import sqlite3

from adapters.pg_datastore import DatabaseUnavailableError


def plain_sqlite_path(path: str) -> str:
    """The path as the operator means it."""
    if path.startswith("//"):  # sqlite:////abs.db: said with one slash, as the operator means
        return "/" + path.lstrip("/")
    return path


def make_sqlite_folder(path: str) -> None:
    """Makes the file's folder if missing; raises DatabaseUnavailableError if it cannot."""
    path = plain_sqlite_path(path)
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailableError(
            f"cannot make the folder {folder} for the SQLite database {path}: {exc.strerror}"
        ) from None


def prepare_sqlite_database(path: str) -> None:
    """Makes the file's folder if missing; raises DatabaseUnavailableError if the folder cannot
    be made, or the file cannot be opened, read as a database or written."""
    make_sqlite_folder(path)
    path = plain_sqlite_path(path)
    try:
        conn = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as exc:
        raise DatabaseUnavailableError(f"cannot open the SQLite database {path}: {exc}") from None
    try:
        # Rewriting user_version with its own value in a transaction rolled back: a read-only
        # file or folder fails here, before migrations or the store get halfway, and nothing
        # changes in a file that works.
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.rollback()
    except sqlite3.Error as exc:
        raise DatabaseUnavailableError(f"cannot use {path} as an SQLite database: {exc}") from None
    finally:
        conn.close()
