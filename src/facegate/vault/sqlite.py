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
* Every write is one ``BEGIN IMMEDIATE`` transaction; a crash rolls it back. An
  unlock attempt takes its lockout slot in such a transaction before any frame is
  judged, counted as a failure until it finishes (see ``Vault``), so the lockout
  cannot be raced and an attempt that cannot be recorded is never scored.
* Each template has a version; adaptive updates are compare-and-swap on it, so a
  re-enrolment made while a verify runs is never overwritten by that verify.
* A new vault is built under a temporary name and linked into place whole, so an
  existing file, even an empty one, is never mistaken for a vault to initialise.
  A file that is not a FaceGate vault is refused and never written to.
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
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facegate.closing import Closing
from facegate.errors import (
    AlreadyEnrolled,
    InputError,
    NotEnrolled,
    VaultError,
    VaultKeyError,
    VaultTampered,
)
from facegate.private_files import make_private_dir
from facegate.sqlite_io import immediate_transaction, sql_errors
from facegate.vault.base import (
    DEFAULT_MAX_FAILURES,
    Attempt,
    Outcome,
    SealedTemplate,
    UserRecord,
    validate_name,
)

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
    " sealed BLOB NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 0,"
    " epoch INTEGER NOT NULL DEFAULT 0)",
)
# Columns added after the first release; older vaults gain them on open.
_ADDED_COLUMNS = {
    "version": "INTEGER NOT NULL DEFAULT 0",
    "epoch": "INTEGER NOT NULL DEFAULT 0",
}
_BUSY_TIMEOUT_S = 5.0


def _sql_errors(path: Path, doing: str) -> AbstractContextManager[None]:
    return sql_errors(VaultError, f"the vault at {path}", doing)


def _meta(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_vault_file(path: Path) -> None:
    """Build an empty vault under a temporary name, then link it into place.

    The file is created 0600 before SQLite touches it (SQLite would use the umask, and
    gives its journal the database's mode). Linking fails if another process got there
    first, which is fine: theirs is a complete vault too.
    """
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    try:
        with _sql_errors(path, "create"):
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                with immediate_transaction(conn):
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute("INSERT INTO meta VALUES ('format', ?)", (_FORMAT,))
            finally:
                conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _is_busy(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _connect(path: Path, *, timeout: float = _BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open a vault file, creating a new one only where no file exists at all.

    Anything else that is not a vault (an empty file, another database, a directory)
    is refused without being written to.
    """
    if path.is_symlink():
        # As with the key file: a link could point the vault at a file someone else
        # controls, so only a real file is opened.
        raise VaultError(f"{path} is a symbolic link; the vault must be a real file")
    if not path.exists():
        _create_vault_file(path)
    if not path.is_file():
        raise VaultError(f"{path} is not a file; a FaceGate vault is one SQLite file")
    with _sql_errors(path, "open"):
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
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
        if not tables:
            raise VaultError(f"{path} is empty, not a FaceGate vault{refuse}")
        if "meta" not in tables or _meta(conn, "format") != _FORMAT:
            raise VaultError(f"{path} is a SQLite database but not a FaceGate vault{refuse}")
        (verdict,) = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as err:
        if _is_busy(err):
            raise VaultError(
                f"the vault at {path} is locked: is another FaceGate process using the "
                "vault? Try again when it has finished"
            ) from err
        raise VaultError(f"{path} is not a readable FaceGate vault ({err}){refuse}") from err
    if verdict != "ok":
        raise VaultError(f"the vault at {path} is damaged ({verdict}){refuse}")
    with _sql_errors(path, "open"):
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        missing = {k: v for k, v in _ADDED_COLUMNS.items() if k not in columns}
        if missing:
            with immediate_transaction(conn):
                for column, kind in missing.items():
                    conn.execute(f"ALTER TABLE users ADD COLUMN {column} {kind}")


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


def _not_enrolled(name: str) -> NotEnrolled:
    return NotEnrolled(
        f"user {name!r} is not enrolled; enrol them with `facegate enroll {name} ...`"
    )


def _template_aad(name: str) -> bytes:
    return _TEMPLATE_AAD + name.encode("ascii")


class SqliteVault(Closing):
    """Sealed templates and lockout state in one SQLite file.

    Not shared across threads: open one per thread (SQLite's own rule for a connection).
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        busy_timeout: float = _BUSY_TIMEOUT_S,
    ) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise VaultKeyError(f"the vault key must be exactly {KEY_BYTES} bytes")
        if max_failures < 1:
            raise InputError(f"max_failures must be at least 1, not {max_failures}")
        self._path = Path(path)
        self._aead = AESGCM(key)
        self._max_failures = max_failures
        self._conn = _connect(self._path, timeout=busy_timeout)
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
            raise _not_enrolled(name)
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
                raise AlreadyEnrolled(
                    f"user {name!r} is already enrolled; use `facegate enroll --replace {name} ...`"
                    " to enrol them again"
                )
            # A random first epoch: an attempt that began before this user was deleted
            # and enrolled again can never mistake the new row for its own.
            conn.execute(
                "INSERT INTO users (name, created_at, updated_at, sealed, epoch)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, now, now, self._seal(payload, _template_aad(name)), secrets.randbits(62)),
            )
            record = self._record(conn, name)
        log.info("enrolled user %s", name)
        return record

    def replace_template(self, name: str, payload: bytes) -> UserRecord:
        """Re-enrolment: always wins, and moves the version on so no update in flight lands."""
        name, payload = validate_name(name), _payload(payload)
        with self._write("replace a template in") as conn:
            record = self._record(conn, name)
            conn.execute(
                "UPDATE users SET sealed = ?, updated_at = ?, version = version + 1 WHERE name = ?",
                (self._seal(payload, _template_aad(name)), _now(), name),
            )
        return record

    def update_template(self, name: str, payload: bytes, expected_version: int) -> bool:
        """Store ``payload`` only if the template is still at ``expected_version``.

        False means another write (a re-enrolment, another update) came first; the
        caller's update was built on a template that no longer exists and is dropped.
        """
        name, payload = validate_name(name), _payload(payload)
        with self._write("update a template in") as conn:
            self._record(conn, name)
            changed = conn.execute(
                "UPDATE users SET sealed = ?, updated_at = ?, version = version + 1"
                " WHERE name = ? AND version = ?",
                (self._seal(payload, _template_aad(name)), _now(), name, expected_version),
            ).rowcount
        return changed == 1

    def get_template(self, name: str) -> bytes:
        return self.read_template(name).payload

    def read_template(self, name: str) -> SealedTemplate:
        name = validate_name(name)
        with _sql_errors(self._path, "read"):
            row = self._conn.execute(
                "SELECT sealed, version FROM users WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise _not_enrolled(name)
        payload = self._unseal(row[0], _template_aad(name))
        if payload is None:
            raise VaultTampered(
                f"the sealed template of {name!r} in {self._path} failed authentication: it was "
                "edited or copied from another user outside FaceGate; delete and re-enrol them"
            )
        return SealedTemplate(payload, int(row[1]))

    def delete_user(self, name: str) -> None:
        name = validate_name(name)
        with self._write("delete a user from") as conn:
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise _not_enrolled(name)
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

    def begin_attempt(self, name: str) -> Attempt:
        """Check the lock and take a slot in one transaction (see ``Vault``).

        Raises VaultError when the slot cannot be written (a full disk, a read-only
        file): an attempt that could not be counted is never scored.
        """
        name = validate_name(name)
        with self._write("start an unlock attempt in") as conn:
            record = self._record(conn, name)
            (epoch,) = conn.execute("SELECT epoch FROM users WHERE name = ?", (name,)).fetchone()
            if record.locked:
                return Attempt(name, False, record.failures, int(epoch), record)
            conn.execute(
                "UPDATE users SET failures = failures + 1, updated_at = ?,"
                " locked = CASE WHEN failures + 1 >= ? THEN 1 ELSE 0 END WHERE name = ?",
                (_now(), self._max_failures, name),
            )
            record = self._record(conn, name)
        return Attempt(name, True, record.failures, int(epoch), record)

    def finish_attempt(self, attempt: Attempt, outcome: Outcome) -> tuple[UserRecord, bool]:
        """Settle an admitted attempt's slot; True when a SUCCESS is accepted.

        A success is refused when failures recorded after this attempt began closed the
        lock while it ran. A success or a reset moves the epoch on, which wipes the slots
        of attempts still running; a failure among them is then counted again, so no
        failure is lost.
        """
        name = attempt.user
        with self._write("finish an unlock attempt in") as conn:
            record = self._record(conn, name)
            (epoch,) = conn.execute("SELECT epoch FROM users WHERE name = ?", (name,)).fetchone()
            same = int(epoch) == attempt.epoch
            accepted = False
            if outcome is Outcome.SUCCESS:
                closed_behind = record.locked and (not same or record.failures > attempt.slot)
                if not closed_behind:
                    accepted = True
                    conn.execute(
                        "UPDATE users SET failures = 0, locked = 0, epoch = epoch + 1,"
                        " updated_at = ? WHERE name = ?",
                        (_now(), name),
                    )
            elif outcome is Outcome.NEUTRAL and same and record.failures > 0:
                conn.execute(
                    "UPDATE users SET failures = failures - 1, updated_at = ?,"
                    " locked = CASE WHEN failures - 1 >= ? THEN 1 ELSE 0 END WHERE name = ?",
                    (_now(), self._max_failures, name),
                )
            elif outcome is Outcome.FAILURE and not same:
                conn.execute(
                    "UPDATE users SET failures = failures + 1, updated_at = ?,"
                    " locked = CASE WHEN failures + 1 >= ? THEN 1 ELSE locked END WHERE name = ?",
                    (_now(), self._max_failures, name),
                )
            record = self._record(conn, name)
        if record.locked and outcome is Outcome.FAILURE:
            log.warning("user %s is locked out after %d failures", name, record.failures)
        return record, accepted

    def reset_lockout(self, name: str) -> UserRecord:
        name = validate_name(name)
        with self._write("reset a lockout in") as conn:
            conn.execute(
                "UPDATE users SET failures = 0, locked = 0, epoch = epoch + 1, updated_at = ?"
                " WHERE name = ?",
                (_now(), name),
            )
            record = self._record(conn, name)
        log.info("lockout reset for user %s", name)
        return record

    def close(self) -> None:
        self._conn.close()
