"""The append-only, hash-chained audit log of everything apps were allowed to see.

Each entry stores the SHA-256 of the entry before it (``prev_hash``) and its own
hash, computed over every stored column. Editing, inserting or deleting any entry
therefore breaks the chain at that entry, and ``verify`` names the first one that
no longer fits. SQLite triggers refuse updates and deletes outright; the chain is
what catches someone who drops the triggers and edits the file.

Limits, stated plainly: a chain cannot reveal that its newest entries were cut off
(there is nothing after them to disagree), and someone able to rewrite the file can
recompute every hash after an edit. Exporting the log (``facegate audit export``)
and keeping the copy elsewhere detects both: ``verify_export`` checks such a copy
(``facegate audit verify --file``), and comparing it with the database shows
what changed.

Entries never hold tokens, images or face data: only who, what, which scopes, when,
and how many frames were sent.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from facegate.sharing.clock import iso
from facegate.sharing.scopes import Scope, to_names

GENESIS_HASH = "0" * 64
_COLUMNS = (
    "seq, at, event, actor, app_id, grant_id, scopes, started_at, ended_at, frames, detail,"
    " prev_hash, hash"
)


class AuditEvent(StrEnum):
    APP_REGISTERED = "app_registered"
    TERMS_ACCEPTED = "terms_accepted"
    CONSENT_REQUESTED = "consent_requested"
    GRANTED = "granted"
    REFUSED = "refused"
    TOKEN_ISSUED = "token_issued"
    REVOKED = "revoked"
    BANNED = "banned"
    STREAM_STARTED = "stream_started"
    STREAM_ENDED = "stream_ended"
    STREAM_REFUSED = "stream_refused"
    NOTICE_DELIVERED = "notice_delivered"
    NOTICE_FAILED = "notice_failed"


class Actor(StrEnum):
    """Who caused an entry: the person at this machine, an app, or the platform."""

    USER = "user"
    APP = "app"
    PLATFORM = "platform"


@dataclass(frozen=True)
class AuditEntry:
    """One entry as stored. Timestamps stay ISO text so a tampered row can still be shown."""

    seq: int
    at: str
    event: str
    actor: str
    app_id: str | None
    grant_id: str | None
    scopes: tuple[str, ...] | None
    started_at: str | None
    ended_at: str | None
    frames: int | None
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def as_json(self) -> dict[str, Any]:
        """The export form: every field, hashes included, so a copy can be re-verified."""
        return {
            "seq": self.seq,
            "at": self.at,
            "event": self.event,
            "actor": self.actor,
            "app_id": self.app_id,
            "grant_id": self.grant_id,
            "scopes": None if self.scopes is None else list(self.scopes),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "frames": self.frames,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        """An entry read back from an export line."""
        scopes = data["scopes"]
        return cls(
            seq=data["seq"],
            at=data["at"],
            event=data["event"],
            actor=data["actor"],
            app_id=data["app_id"],
            grant_id=data["grant_id"],
            scopes=None if scopes is None else tuple(scopes),
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            frames=data["frames"],
            detail=dict(data["detail"]),
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )

    def stored_row(self) -> tuple[Any, ...]:
        """The entry as the columns it was hashed from, ``hash`` last."""
        return (
            self.seq,
            self.at,
            self.event,
            self.actor,
            self.app_id,
            self.grant_id,
            None if self.scopes is None else ",".join(self.scopes),
            self.started_at,
            self.ended_at,
            self.frames,
            _detail_text(self.detail),
            self.prev_hash,
            self.hash,
        )

    def as_json_line(self) -> str:
        """One line of ``facegate audit export``."""
        return json.dumps(self.as_json(), ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: ``broken_seq`` is the first entry that fails."""

    entries: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _detail_text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


def entry_hash(row: tuple[Any, ...]) -> str:
    """SHA-256 over the stored columns ``seq .. prev_hash``, as canonical JSON.

    Hashing the stored values themselves (not a re-serialised object) means any byte
    changed in any column, including a changed type, changes the hash.
    """
    payload = json.dumps(list(row), ensure_ascii=False, separators=(",", ":"), default=repr)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(
    conn: sqlite3.Connection,
    now: datetime,
    event: AuditEvent,
    actor: Actor,
    *,
    app_id: str | None = None,
    grant_id: str | None = None,
    scopes: Iterable[Scope] | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    frames: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Add one entry inside the caller's write transaction; returns its sequence number.

    The caller's ``BEGIN IMMEDIATE`` makes reading the last hash and inserting the
    next entry atomic, so two writers can never fork the chain.
    """
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (1, GENESIS_HASH) if last is None else (last[0] + 1, last[1])
    row = (
        seq,
        iso(now),
        event.value,
        actor.value,
        app_id,
        grant_id,
        None if scopes is None else ",".join(to_names(scopes)),
        None if started_at is None else iso(started_at),
        None if ended_at is None else iso(ended_at),
        frames,
        _detail_text(detail or {}),
        prev_hash,
    )
    conn.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES ({','.join('?' * 13)})", (*row, entry_hash(row))
    )
    return seq


def _rows(conn: sqlite3.Connection, after: int = 0) -> Iterator[tuple[Any, ...]]:
    yield from conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq", (after,))


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, event, actor, app_id, grant_id, scopes, started, ended, frames, detail, prev, hsh = row
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else {}
    except ValueError:
        parsed = {"unparsed": str(detail)}
    return AuditEntry(
        seq=seq,
        at=str(at),
        event=str(event),
        actor=str(actor),
        app_id=app_id,
        grant_id=grant_id,
        scopes=None if scopes is None else tuple(str(scopes).split(",")),
        started_at=started,
        ended_at=ended,
        frames=frames,
        detail=parsed if isinstance(parsed, dict) else {"unparsed": str(detail)},
        prev_hash=str(prev),
        hash=str(hsh),
    )


def entries(conn: sqlite3.Connection, after: int = 0) -> list[AuditEntry]:
    """Entries with ``seq > after``, oldest first."""
    return [_entry(row) for row in _rows(conn, after)]


def verify_rows(rows: Iterable[tuple[Any, ...]]) -> ChainReport:
    """Walk a chain of stored rows (``seq .. hash``); report the first one that does not fit."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for row in rows:
        count += 1
        seq, stored_prev, stored_hash = row[0], row[11], row[12]
        if seq != expected_seq:
            return ChainReport(
                count, seq, f"entry #{seq} follows #{expected_seq - 1}: entries were removed"
            )
        if stored_prev != prev_hash:
            return ChainReport(count, seq, f"entry #{seq} does not link to the entry before it")
        if entry_hash(row[:12]) != stored_hash:
            return ChainReport(count, seq, f"entry #{seq} was altered after it was written")
        expected_seq, prev_hash = seq + 1, stored_hash
    return ChainReport(count)


def verify(conn: sqlite3.Connection) -> ChainReport:
    """Check the whole chain in the database."""
    return verify_rows(_rows(conn))


def verify_export(lines: Iterable[str]) -> ChainReport:
    """Check a copy written by ``facegate audit export`` (one JSON object per line).

    A line that is not a well-formed entry counts as an altered entry, named by its
    line number when it has no readable ``seq``.
    """
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(AuditEntry.from_json(json.loads(line)).stored_row())
        except (ValueError, TypeError, KeyError, AttributeError):
            return ChainReport(len(rows) + 1, number, f"line {number} is not an audit entry")
    return verify_rows(rows)
