"""The attempt log: who tried the face at which PAM service and tty, and how it went.

One SQLite file, 0600 in the 0700 state directory, read by ``facegate system log``. A
row holds the user, service, tty, outcome, reason and duration: never an image, a
template or a score. The oldest rows beyond ``KEEP_ROWS`` are dropped, so a flood of
attempts cannot fill the disk.
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
    " outcome TEXT NOT NULL, reason TEXT NOT NULL, duration_ms INTEGER NOT NULL)"
)


class AttemptLogError(FaceGateError):
    """The attempt log cannot be read or written."""


@dataclass(frozen=True)
class Attempt:
    """One logged request; ``reason`` is the decision's reason or "" when none applies."""

    at: datetime
    user: str
    service: str
    tty: str
    outcome: str
    reason: str
    duration_ms: int


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
    return conn


def record(path: Path, attempt: Attempt) -> None:
    """Append one attempt and drop rows beyond KEEP_ROWS."""
    conn = _connect(path)
    try:
        with sql_errors(AttemptLogError, f"the attempt log {path}", "write"):
            conn.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.at.isoformat(timespec="seconds"),
                    _clean(attempt.user),
                    _clean(attempt.service),
                    _clean(attempt.tty),
                    attempt.outcome,
                    attempt.reason,
                    attempt.duration_ms,
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
                "SELECT * FROM attempts ORDER BY rowid DESC LIMIT ?", (limit,)
            ).fetchall()
    finally:
        conn.close()
    return [
        Attempt(datetime.fromisoformat(at), user, service, tty, outcome, reason, ms)
        for at, user, service, tty, outcome, reason, ms in reversed(rows)
    ]


def now() -> datetime:
    return datetime.now(UTC)
