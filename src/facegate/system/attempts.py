"""The attempt log: who tried the face at which PAM service and tty, and how it went.

One SQLite file, 0600 in the 0700 state directory, read by ``facegate system log``. A
row holds the user, service, tty, outcome, reason and duration: never an image, a
template or a score. It also holds the caller's uid as the kernel reported it
(``SO_PEERCRED``): user, service and tty are whatever the caller sent, so only a row
with uid 0 came from the PAM stack; an unprivileged caller's request is refused and
logged under its own uid. The oldest rows beyond ``KEEP_ROWS`` are dropped, so a flood
of attempts cannot fill the disk.

Logs written before the uid was recorded get the column on first open (``ALTER TABLE
... ADD COLUMN``: old rows are kept, with no uid).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from facegate.errors import FaceGateError
from facegate.private_files import make_private_dir
from facegate.sqlite_io import sql_errors

KEEP_ROWS = 10_000
_FIELD_CHARS = 64
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS attempts ("
    " at TEXT NOT NULL, user TEXT NOT NULL, service TEXT NOT NULL, tty TEXT NOT NULL,"
    " outcome TEXT NOT NULL, reason TEXT NOT NULL, duration_ms INTEGER NOT NULL, uid INTEGER)"
)
_COLUMNS = "at, user, service, tty, outcome, reason, duration_ms, uid"


class AttemptLogError(FaceGateError):
    """The attempt log cannot be read or written."""


@dataclass(frozen=True)
class Attempt:
    """One logged request; ``reason`` is the decision's reason or "" when none applies;
    ``uid`` is the caller's (0: the PAM stack), None in rows older than the column."""

    at: datetime
    user: str
    service: str
    tty: str
    outcome: str
    reason: str
    duration_ms: int
    uid: int | None


def _clean(text: str) -> str:
    """Printable and short: PAM items come from the caller and end up on a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text[:_FIELD_CHARS])


def _connect(path: Path) -> sqlite3.Connection:
    make_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with sql_errors(AttemptLogError, f"the attempt log {path}", "open"):
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
        conn.execute(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
        if "uid" not in columns:
            with contextlib.suppress(sqlite3.OperationalError):  # another opener was first
                conn.execute("ALTER TABLE attempts ADD COLUMN uid INTEGER")
    return conn


def record(path: Path, attempt: Attempt) -> None:
    """Append one attempt and drop rows beyond KEEP_ROWS."""
    conn = _connect(path)
    try:
        with sql_errors(AttemptLogError, f"the attempt log {path}", "write"):
            conn.execute(
                f"INSERT INTO attempts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.at.isoformat(timespec="seconds"),
                    _clean(attempt.user),
                    _clean(attempt.service),
                    _clean(attempt.tty),
                    attempt.outcome,
                    attempt.reason,
                    attempt.duration_ms,
                    attempt.uid,
                ),
            )
            conn.execute(
                "DELETE FROM attempts WHERE rowid <= (SELECT max(rowid) FROM attempts) - ?",
                (KEEP_ROWS,),
            )
    finally:
        conn.close()


def recent(path: Path, limit: int = 50) -> list[Attempt]:
    """The newest ``limit`` attempts, oldest first; empty when nothing was logged yet."""
    if not path.exists():
        return []
    conn = _connect(path)
    try:
        with sql_errors(AttemptLogError, f"the attempt log {path}", "read"):
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM attempts ORDER BY rowid DESC LIMIT ?", (limit,)
            ).fetchall()
    finally:
        conn.close()
    return [
        Attempt(datetime.fromisoformat(at), user, service, tty, outcome, reason, ms, uid)
        for at, user, service, tty, outcome, reason, ms, uid in reversed(rows)
    ]


def now() -> datetime:
    return datetime.now(UTC)
