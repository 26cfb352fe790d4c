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
* A database that is missing or empty while the audit head file beside it records
  entries is refused, not silently recreated: that is a lost or wiped audit log.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

from facegate.closing import Closing
from facegate.sharing.audit_head import HEAD_FILE, read_head_file
from facegate.sharing.errors import SharingStoreError
from facegate.sqlite_io import immediate_transaction, sql_errors

log = logging.getLogger(__name__)

STORE_FILE = "sharing.sqlite3"
_FORMAT = b"facegate-sharing/2"
_OLD_FORMATS = {b"facegate-sharing/1": "its audit chain is not keyed"}
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
    " allow_local_webhook INTEGER NOT NULL DEFAULT 0,"
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


class SharingStore(Closing):
    """The open sharing database. Use ``read()`` / ``write()`` for every statement."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        self._conn, self.created = _connect(self._path)
        self._after_commit: list[Callable[[sqlite3.Connection], None]] = []

    def after_commit(self, hook: Callable[[sqlite3.Connection], None]) -> None:
        """Call ``hook(conn)`` after every committed ``write()``, still under the lock."""
        self._after_commit.append(hook)

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
        with self._lock, _sql_errors(self._path, doing):
            with immediate_transaction(self._conn):
                yield self._conn
            for hook in self._after_commit:
                hook(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _connect(path: Path) -> tuple[sqlite3.Connection, bool]:
    """Open or create the file 0600, refusing anything that is not a sharing database.

    Returns the connection and whether the database was created just now.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _refuse_lost_log(path, "missing")
    elif path.stat().st_size == 0:
        _refuse_lost_log(path, "empty (0 bytes)")
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with _sql_errors(path, "open"):
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        created = _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn, created


def _refuse_lost_log(path: Path, state: str) -> None:
    """Refuse to start a new database where the head file says a log with entries was."""
    head_file = path.parent / HEAD_FILE
    try:
        head = read_head_file(head_file)
    except ValueError:
        head = None
        recorded = "an unreadable audit head file"
    else:
        recorded = "" if head is None else f"an audit log of {head.count} entries"
    if not recorded or (head is not None and head.count == 0):
        return
    raise SharingStoreError(
        f"{path} is {state}, but {head_file} records {recorded}: the audit log was lost or "
        "wiped, and FaceGate will not start a new one silently. Restore the database from "
        f"a backup; to start over on purpose, move both {path.name} and {head_file.name} aside"
    )


def _prepare(conn: sqlite3.Connection, path: Path) -> bool:
    refuse = "; it was left untouched: restore a backup or move it aside"
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        found = _format(conn) if "meta" in tables else None
        if tables and isinstance(found, bytes) and found in _OLD_FORMATS:
            raise SharingStoreError(
                f"{path} was made by an older FaceGate ({found.decode()}: "
                f"{_OLD_FORMATS[found]}). Export its log with that version if you need it, "
                "then move the file aside to start a new one"
            )
        if tables and found != _FORMAT:
            raise SharingStoreError(
                f"{path} is a SQLite database but not a FaceGate sharing database{refuse}"
            )
    except sqlite3.Error as err:
        raise SharingStoreError(
            f"{path} is not a readable sharing database ({err}){refuse}"
        ) from err
    if not tables:
        _refuse_lost_log(path, "a database without tables")
    with _sql_errors(path, "open"):
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if tables:
            return False
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
        return True


def _format(conn: sqlite3.Connection) -> object:
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    return None if row is None else row[0]
