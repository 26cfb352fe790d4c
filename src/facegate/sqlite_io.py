"""SQLite plumbing shared by the template vault and the sharing store.

Both stores need the same two habits: an SQLite error reaches the person as a
FaceGate error that names the file, and every write takes the write lock up front
(``BEGIN IMMEDIATE``) so a read-then-write cannot race another process, such as
the CLI revoking a grant while the service streams.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from facegate.errors import FaceGateError


@contextmanager
def sql_errors(error: type[FaceGateError], what: str, doing: str) -> Iterator[None]:
    """Re-raise SQLite errors as ``error("could not {doing} {what}: ...")``."""
    try:
        yield
    except sqlite3.Error as err:
        raise error(f"could not {doing} {what}: {err}") from err


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction, committed on success and rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
