"""The sharing database: one SQLite file, apart from the template vault.

``$FACEGATE_HOME/sharing.sqlite3`` holds apps, consent requests, grants (token
hashes only), the deletion-notice outbox and the audit log. It shares no file, table
or code with the vault, so nothing here can reach a face template.

Why these choices:

* WAL journal: the service reads grants while the CLI revokes one, and neither
  blocks the other; ``synchronous=FULL`` so a committed audit entry survives a crash.
* Every write is one ``BEGIN IMMEDIATE`` transaction: a state change, its audit
  entry and its deletion notice commit together or not at all.
* One connection per store, guarded by a lock, so the service's threads can share
  it; other processes coordinate through SQLite's own locking.
* A file that is not a FaceGate sharing database is refused and never written to.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from facegate.sharing.errors import SharingStoreError
from facegate.sqlite_io import immediate_transaction, sql_errors

log = logging.getLogger(__name__)

STORE_FILE = "sharing.sqlite3"
_FORMAT = b"facegate-sharing/1"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE apps ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " developer TEXT NOT NULL,"
    " contact TEXT NOT NULL,"
    " purpose TEXT NOT NULL,"
    " retention_days INTEGER NOT NULL,"
    " webhook_url TEXT NOT NULL,"
    " public_key TEXT NOT NULL UNIQUE,"
    " registered_at TEXT NOT NULL,"
    " terms_version TEXT,"
    " terms_accepted_at TEXT,"
    " banned_at TEXT,"
    " ban_reason TEXT)",
    "CREATE TABLE consent_requests ("
    " id TEXT PRIMARY KEY,"
    " app_id TEXT NOT NULL REFERENCES apps(id),"
    " scopes TEXT NOT NULL,"
    " grant_seconds INTEGER NOT NULL,"
    " created_at TEXT NOT NULL,"
    " expires_at TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " decided_at TEXT,"
    " grant_id TEXT)",
    "CREATE TABLE grants ("
    " id TEXT PRIMARY KEY,"
    " app_id TEXT NOT NULL REFERENCES apps(id),"
    " request_id TEXT NOT NULL REFERENCES consent_requests(id),"
    " scopes TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " expires_at TEXT NOT NULL,"
    " token_hash TEXT UNIQUE,"
    " token_issued_at TEXT,"
    " revoked_at TEXT,"
    " revoked_reason TEXT)",
    "CREATE INDEX grants_by_app ON grants(app_id)",
    "CREATE TABLE notices ("
    " id TEXT PRIMARY KEY,"
    " app_id TEXT NOT NULL REFERENCES apps(id),"
    " url TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " signature TEXT NOT NULL,"
    " key_id TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at TEXT NOT NULL,"
    " delivered_at TEXT,"
    " last_error TEXT)",
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " at TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " app_id TEXT,"
    " grant_id TEXT,"
    " scopes TEXT,"
    " started_at TEXT,"
    " ended_at TEXT,"
    " frames INTEGER,"
    " detail TEXT,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL)",
    # Append-only by construction: SQLite itself refuses to change or drop an entry.
    # Someone with the file can drop these triggers, which is what the hash chain is for.
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)


def _sql_errors(path: Path, doing: str) -> AbstractContextManager[None]:
    return sql_errors(SharingStoreError, f"the sharing database {path}", doing)


class SharingStore:
    """The open sharing database. Use ``read()`` / ``write()`` for every statement."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        self._conn = _connect(self._path)

    @classmethod
    def in_home(cls, home: Path) -> SharingStore:
        """The store of a FaceGate home (``settings.home``)."""
        return cls(home / STORE_FILE)

    def __repr__(self) -> str:
        return f"SharingStore({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def read(self, doing: str) -> Iterator[sqlite3.Connection]:
        """The connection for reads; SQLite errors become SharingStoreError."""
        with self._lock, _sql_errors(self._path, doing):
            yield self._conn

    @contextmanager
    def write(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error.

        Taking the write lock up front means a read-then-write cannot race another
        process (the CLI revoking while the service streams, say).
        """
        with self._lock, _sql_errors(self._path, doing), immediate_transaction(self._conn):
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connect(path: Path) -> sqlite3.Connection:
    """Open or create the file 0600, refusing anything that is not a sharing database."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with _sql_errors(path, "open"):
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    refuse = "; it was left untouched: restore a backup or move it aside"
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if tables and ("meta" not in tables or _format(conn) != _FORMAT):
            raise SharingStoreError(
                f"{path} is a SQLite database but not a FaceGate sharing database{refuse}"
            )
    except sqlite3.Error as err:
        raise SharingStoreError(
            f"{path} is not a readable sharing database ({err}){refuse}"
        ) from err
    with _sql_errors(path, "open"):
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if tables:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES ('format', ?)", (_FORMAT,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.info("created the sharing database %s", path)


def _format(conn: sqlite3.Connection) -> object:
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    return None if row is None else row[0]
