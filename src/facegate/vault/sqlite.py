"""The SQLite vault: one file, one row per user, each template sealed with AES-GCM.

Why these choices:

* Each template is sealed with a fresh 12-byte nonce and associated data naming
  the user and the record format, so a byte edit, or a ciphertext moved onto
  another user's row, fails authentication instead of matching someone else.
* A key-check value in ``meta`` makes a wrong key fail at open with
  ``VaultKeyError``, not later as an alarming ``VaultTampered``.
* ``journal_mode=DELETE`` with ``secure_delete=ON``: freed pages are zeroed and
  the rollback journal is removed at each commit, so a deleted template leaves no
  copy in any vault file (a WAL would keep old frames until a checkpoint).
* Every write is one ``BEGIN IMMEDIATE`` transaction; a crash rolls it back.
* A file that is not a FaceGate vault is refused and never written to.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facegate.errors import (
    AlreadyEnrolled,
    InputError,
    NotEnrolled,
    VaultError,
    VaultKeyError,
    VaultTampered,
)
from facegate.sqlite_io import immediate_transaction, sql_errors
from facegate.vault.base import DEFAULT_MAX_FAILURES, UserRecord, make_private_dir, validate_name

log = logging.getLogger(__name__)

KEY_BYTES = 32
SALT_BYTES = 16
_NONCE_BYTES = 12
_FORMAT = b"facegate-vault/1"
_TEMPLATE_AAD = b"facegate/template/v1\x00"
_CHECK_AAD = b"facegate/key-check/v1"
_CHECK_PLAINTEXT = b"facegate vault key check"
_COLUMNS = "name, created_at, updated_at, failures, locked"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE users ("
    " name TEXT PRIMARY KEY,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " failures INTEGER NOT NULL DEFAULT 0,"
    " locked INTEGER NOT NULL DEFAULT 0,"
    " sealed BLOB NOT NULL)",
)


def _sql_errors(path: Path, doing: str) -> AbstractContextManager[None]:
    return sql_errors(VaultError, f"the vault at {path}", doing)


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _create_private_file(path: Path) -> None:
    """Create the file 0600 before SQLite does, which would use the umask instead.

    SQLite gives its journal the database file's mode, so this covers both.
    """
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return


def _connect(path: Path) -> sqlite3.Connection:
    """Open or create a vault file, refusing anything that is not one without writing to it."""
    _create_private_file(path)
    with _sql_errors(path, "open"):
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
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
        if tables and ("meta" not in tables or _meta(conn, "format") != _FORMAT):
            raise VaultError(f"{path} is a SQLite database but not a FaceGate vault{refuse}")
        (verdict,) = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as err:
        raise VaultError(f"{path} is not a readable FaceGate vault ({err}){refuse}") from err
    if verdict != "ok":
        raise VaultError(f"the vault at {path} is damaged ({verdict}){refuse}")
    with _sql_errors(path, "open"):
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        if not tables:
            with immediate_transaction(conn):
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute("INSERT INTO meta VALUES ('format', ?)", (_FORMAT,))


def is_sealed(path: Path) -> bool:
    """Whether a vault already has a key, so no fresh key may be minted for it."""
    if not path.exists():
        return False
    conn = _connect(path)
    try:
        with _sql_errors(path, "read"):
            return _meta(conn, "key_check") is not None
    finally:
        conn.close()


def passphrase_salt(path: Path) -> bytes:
    """The vault's scrypt salt, created with the vault so a passphrase key is unique to it."""
    conn = _connect(path)
    try:
        with _sql_errors(path, "read the passphrase salt of"), immediate_transaction(conn):
            salt = _meta(conn, "kdf_salt")
            if salt is None:
                if _meta(conn, "key_check") is not None:
                    raise VaultKeyError(
                        f"the vault at {path} was sealed with a key file or keyring key, "
                        "not a passphrase; set key_source to the one it was created with"
                    )
                salt = secrets.token_bytes(SALT_BYTES)
                conn.execute("INSERT INTO meta VALUES ('kdf_salt', ?)", (salt,))
    finally:
        conn.close()
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise VaultTampered(f"the passphrase salt in {path} is malformed")
    return salt


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _payload(payload: object) -> bytes:
    """Accept only byte strings: ``bytes(5)`` would silently seal five zero bytes."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise InputError(f"a template payload must be bytes, not {type(payload).__name__}")
    return bytes(payload)


def _template_aad(name: str) -> bytes:
    return _TEMPLATE_AAD + name.encode("ascii")


class SqliteVault:
    """Sealed templates and lockout state in one SQLite file.

    Not shared across threads: open one per thread (SQLite's own rule for a connection).
    """

    def __init__(self, path: Path, key: bytes, *, max_failures: int = DEFAULT_MAX_FAILURES) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise VaultKeyError(f"the vault key must be exactly {KEY_BYTES} bytes")
        if max_failures < 1:
            raise InputError(f"max_failures must be at least 1, not {max_failures}")
        self._path = Path(path)
        self._aead = AESGCM(key)
        self._max_failures = max_failures
        self._conn = _connect(self._path)
        try:
            self._check_key()
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteVault({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _unseal(self, sealed: object, aad: bytes) -> bytes | None:
        """The plaintext, or None when authentication fails, so callers pick the error."""
        if not isinstance(sealed, bytes):
            return None
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            return None

    def _check_key(self) -> None:
        with self._write("open") as conn:
            check = _meta(conn, "key_check")
            if check is None:
                conn.execute(
                    "INSERT INTO meta VALUES ('key_check', ?)",
                    (self._seal(_CHECK_PLAINTEXT, _CHECK_AAD),),
                )
                return
        if self._unseal(check, _CHECK_AAD) != _CHECK_PLAINTEXT:
            raise VaultKeyError(
                f"wrong key or passphrase for the vault at {self._path}: "
                "use the key source it was created with"
            )

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with _sql_errors(self._path, doing), immediate_transaction(self._conn) as conn:
            yield conn

    def _record(self, conn: sqlite3.Connection, name: str) -> UserRecord:
        row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotEnrolled(f"user {name!r} is not enrolled")
        return self._to_record(row)

    def _to_record(self, row: tuple[Any, ...]) -> UserRecord:
        name, created_at, updated_at, failures, locked = row
        try:
            return UserRecord(
                name=name,
                created_at=datetime.fromisoformat(created_at),
                updated_at=datetime.fromisoformat(updated_at),
                failures=int(failures),
                locked=bool(locked),
            )
        except (TypeError, ValueError) as err:
            raise VaultTampered(f"the record for {name!r} in {self._path} is malformed") from err

    def create_user(self, name: str, payload: bytes) -> UserRecord:
        name, payload = validate_name(name), _payload(payload)
        now = _now()
        with self._write("enrol a user in") as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AlreadyEnrolled(f"user {name!r} is already enrolled; delete them first")
            conn.execute(
                "INSERT INTO users (name, created_at, updated_at, sealed) VALUES (?, ?, ?, ?)",
                (name, now, now, self._seal(payload, _template_aad(name))),
            )
            record = self._record(conn, name)
        log.info("enrolled user %s", name)
        return record

    def replace_template(self, name: str, payload: bytes) -> UserRecord:
        name, payload = validate_name(name), _payload(payload)
        with self._write("replace a template in") as conn:
            conn.execute(
                "UPDATE users SET sealed = ?, updated_at = ? WHERE name = ?",
                (self._seal(payload, _template_aad(name)), _now(), name),
            )
            return self._record(conn, name)

    def get_template(self, name: str) -> bytes:
        name = validate_name(name)
        with _sql_errors(self._path, "read"):
            row = self._conn.execute("SELECT sealed FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotEnrolled(f"user {name!r} is not enrolled")
        payload = self._unseal(row[0], _template_aad(name))
        if payload is None:
            raise VaultTampered(
                f"the sealed template of {name!r} in {self._path} failed authentication: it was "
                "edited or copied from another user outside FaceGate; delete and re-enrol them"
            )
        return payload

    def delete_user(self, name: str) -> None:
        name = validate_name(name)
        with self._write("delete a user from") as conn:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise NotEnrolled(f"user {name!r} is not enrolled")
        log.info("deleted user %s", name)

    def users(self) -> list[UserRecord]:
        with _sql_errors(self._path, "read"):
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()
        return [self._to_record(row) for row in rows]

    def user(self, name: str) -> UserRecord:
        name = validate_name(name)
        with _sql_errors(self._path, "read"):
            return self._record(self._conn, name)

    def record_failure(self, name: str) -> UserRecord:
        name = validate_name(name)
        with self._write("record a failure in") as conn:
            conn.execute(
                "UPDATE users SET failures = failures + 1, updated_at = ?,"
                " locked = CASE WHEN failures + 1 >= ? THEN 1 ELSE locked END WHERE name = ?",
                (_now(), self._max_failures, name),
            )
            record = self._record(conn, name)
        if record.locked:
            log.warning("user %s is locked out after %d failures", name, record.failures)
        return record

    def record_success(self, name: str) -> UserRecord:
        """Reset the failure count, but never for a locked user: only an explicit reset may."""
        name = validate_name(name)
        with self._write("record a success in") as conn:
            conn.execute(
                "UPDATE users SET failures = 0, updated_at = ?"
                " WHERE name = ? AND locked = 0 AND failures != 0",
                (_now(), name),
            )
            return self._record(conn, name)

    def reset_lockout(self, name: str) -> UserRecord:
        name = validate_name(name)
        with self._write("reset a lockout in") as conn:
            conn.execute(
                "UPDATE users SET failures = 0, locked = 0, updated_at = ? WHERE name = ?",
                (_now(), name),
            )
            record = self._record(conn, name)
        log.info("lockout reset for user %s", name)
        return record

    def close(self) -> None:
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
