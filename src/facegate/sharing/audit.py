"""The append-only, keyed hash chain of everything apps were allowed to see.

Each entry stores the hash of the entry before it (``prev_hash``) and its own,
an HMAC-SHA256 over every stored column under the **audit key**. The key is derived
(HKDF) from the platform's Ed25519 key in ``$FACEGATE_HOME``, so someone who can
edit the database but not read that key cannot recompute the chain after an edit:
``verify`` names the first entry that no longer fits. SQLite triggers refuse
updates and deletes outright; the chain is what catches someone who drops them.

A chain alone cannot show that its newest entries were cut off, or that the whole
file was replaced or emptied. The **signed head** (``audit_head``) does: after every
entry, the count and last hash are signed and kept in the database and in a file
beside it, and ``facegate audit head`` prints the head for the person to keep
elsewhere. ``verify`` checks the chain against both stored heads; ``verify_export``
checks an export (``facegate audit export``: the entries, then the signed head) on
its own and against the live log.

What is still out of reach, stated plainly: someone holding the platform key file
can re-sign a rewritten log and both stored heads. Only a head kept off this
machine catches that (``check_against``).

Entries never hold tokens, images or face data: only who, what, which scopes, when,
and how many frames were sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facegate.sharing.audit_head import (
    GENESIS_HASH,
    SignedHead,
    read_head_file,
    write_head_file,
)
from facegate.sharing.clock import iso
from facegate.sharing.errors import AuditTampered
from facegate.sharing.scopes import Scope, to_names

log = logging.getLogger(__name__)

__all__ = ["GENESIS_HASH", "AuditLog", "ChainReport", "SignedHead"]

_AUDIT_KEY_INFO = b"facegate-audit-chain-v1"
_HEAD_META_KEY = "audit_head"
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
    """The result of a check: ``problem`` says what failed, ``broken_seq`` the first
    entry concerned (None when the problem is the log as a whole, e.g. a missing head)."""

    entries: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _detail_text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


def audit_key(platform_key: Ed25519PrivateKey) -> bytes:
    """The 32-byte HMAC key of the chain, derived from the platform key (HKDF-SHA256).

    One secret to guard and back up; the derivation keeps the two uses apart.
    """
    raw = platform_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(hashes.SHA256(), 32, salt=None, info=_AUDIT_KEY_INFO).derive(raw)


def entry_mac(key: bytes, row: Sequence[Any]) -> str:
    """HMAC-SHA256 under ``key`` over the stored columns ``seq .. prev_hash`` as canonical JSON.

    Hashing the stored values themselves (not a re-serialised object) means any byte
    changed in any column, including a changed type, changes the hash.
    """
    payload = json.dumps(list(row), ensure_ascii=False, separators=(",", ":"), default=repr)
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


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


def verify_rows(rows: Iterable[Sequence[Any]], key: bytes) -> ChainReport:
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
        if not hmac.compare_digest(entry_mac(key, row[:12]), str(stored_hash)):
            return ChainReport(count, seq, f"entry #{seq} was altered after it was written")
        expected_seq, prev_hash = seq + 1, stored_hash
    return ChainReport(count)


def _prefix_problem(rows: Sequence[Sequence[Any]], head: SignedHead, what: str) -> ChainReport:
    """Does the log ``rows`` still hold the ``head.count`` entries that ``head`` signed?"""
    count = len(rows)
    if head.count > count:
        return ChainReport(
            count,
            count + 1,
            f"{what} records {head.count} entries but the log holds {count}: entries "
            f"#{count + 1} to #{head.count} were removed",
        )
    last = GENESIS_HASH if head.count == 0 else rows[head.count - 1][12]
    if not hmac.compare_digest(str(last), head.hash):
        return ChainReport(
            count, head.count, f"entry #{head.count} differs from the one {what} records"
        )
    return ChainReport(count)


class AuditLog:
    """The chain's keys and its signed heads; every entry goes through ``append``.

    ``head_file`` is the copy of the head kept beside the database
    (``audit_head.head_path(home)``).
    """

    def __init__(self, platform_key: Ed25519PrivateKey, head_file: Path) -> None:
        self._key = audit_key(platform_key)
        self._signer = platform_key
        self._public = platform_key.public_key()
        self.head_file = head_file
        self._unpublished = False

    def start(self, conn: sqlite3.Connection) -> None:
        """Sign the empty log's head; only for a database created just now."""
        self._store_head(conn, SignedHead.sign(self._signer, 0, GENESIS_HASH))

    def append(
        self,
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
        """Add one entry and re-sign the head inside the caller's write transaction.

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
        digest = entry_mac(self._key, row)
        conn.execute(
            f"INSERT INTO audit ({_COLUMNS}) VALUES ({','.join('?' * 13)})", (*row, digest)
        )
        self._store_head(conn, SignedHead.sign(self._signer, seq, digest))
        return seq

    def _store_head(self, conn: sqlite3.Connection, head: SignedHead) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_HEAD_META_KEY, head.as_json_line().encode("utf-8")),
        )
        self._unpublished = True

    def publish(self, conn: sqlite3.Connection) -> None:
        """After a commit: copy the database's head to the head file if it moved on.

        A file that is ahead (another process published a later head) is left alone.
        """
        if not self._unpublished:
            return
        self._unpublished = False
        head = stored_head(conn)
        if head is None:
            return
        try:
            current = read_head_file(self.head_file)
        except ValueError:
            current = None
        if current is not None and current.count >= head.count:
            return
        try:
            write_head_file(self.head_file, head)
        except OSError as err:
            log.warning("could not write the audit head file %s: %s", self.head_file, err)

    def head(self, conn: sqlite3.Connection) -> SignedHead:
        """The signed head of the log as it is now, once the log verifies."""
        report = self.verify(conn)
        if not report.ok:
            raise AuditTampered(
                report.problem or "the audit log does not verify", report.broken_seq
            )
        head = stored_head(conn)
        assert head is not None, "verify() accepted a log without a head"
        return head

    def verify(self, conn: sqlite3.Connection) -> ChainReport:
        """The chain, the head in the database and the head file, in that order."""
        rows = list(_rows(conn))
        report = verify_rows(rows, self._key)
        if not report.ok:
            return report
        try:
            in_db = stored_head(conn)
        except ValueError:
            in_db = None
        if in_db is None or not self._signed(in_db):
            return ChainReport(
                len(rows),
                None,
                "the database holds no head signed by the platform key: the log was replaced "
                "or rebuilt",
            )
        if in_db.count < len(rows):
            return ChainReport(
                len(rows),
                in_db.count + 1,
                f"entries after #{in_db.count} were added without the platform key",
            )
        problem = _prefix_problem(rows, in_db, "the signed head in the database")
        if not problem.ok:
            return problem
        return self._check_head_file(rows)

    def _check_head_file(self, rows: Sequence[Sequence[Any]]) -> ChainReport:
        try:
            in_file = read_head_file(self.head_file)
        except ValueError as err:
            return ChainReport(len(rows), None, f"the audit head file is unreadable: {err}")
        if in_file is None:
            return ChainReport(
                len(rows),
                None,
                f"the audit head file {self.head_file} is missing: it was deleted, or the "
                "database was copied here from elsewhere",
            )
        if not self._signed(in_file):
            return ChainReport(
                len(rows), None, f"{self.head_file} is not signed by the platform key"
            )
        return _prefix_problem(rows, in_file, f"the head file {self.head_file.name}")

    def check_against(self, conn: sqlite3.Connection, head: SignedHead) -> ChainReport:
        """Does today's log still hold everything a head kept earlier (``audit head``) signed?"""
        report = self.verify(conn)
        if not report.ok:
            return report
        if not self._signed(head):
            return ChainReport(report.entries, None, "the kept head is not signed by this key")
        return _prefix_problem(list(_rows(conn)), head, "the kept head")

    def export(self, conn: sqlite3.Connection) -> tuple[list[AuditEntry], SignedHead | None]:
        """Every entry, and the head that vouches for them (None if the log is broken)."""
        rows = list(_rows(conn))
        report = self.verify(conn)
        head = None
        if report.ok:
            last = rows[-1][12] if rows else GENESIS_HASH
            head = SignedHead.sign(self._signer, len(rows), str(last))
        return [_entry(row) for row in rows], head

    def verify_export(self, lines: Iterable[str], conn: sqlite3.Connection) -> ChainReport:
        """Check a copy written by ``facegate audit export``, then the live log against it.

        The copy must be whole: its entries, then the signed head that covers exactly
        them. A line that is not a well-formed entry counts as an altered entry, named
        by its line number when it has no readable ``seq``. The live log must still
        hold every entry of the copy, unchanged.
        """
        rows: list[tuple[Any, ...]] = []
        head: SignedHead | None = None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if head is not None:
                return ChainReport(len(rows), None, f"line {number} follows the signed head")
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("type") == "audit_head":
                    head = SignedHead.from_json(data)
                else:
                    rows.append(AuditEntry.from_json(data).stored_row())
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                return ChainReport(len(rows) + 1, number, f"line {number} is not an audit entry")
        report = verify_rows(rows, self._key)
        if not report.ok:
            return report
        if head is None:
            return ChainReport(
                len(rows), None, "the export has no signed head: it is empty or was cut short"
            )
        if not self._signed(head):
            return ChainReport(len(rows), None, "the export's head is not signed by this key")
        if head.count != len(rows):
            return ChainReport(
                len(rows),
                min(head.count, len(rows)) + 1,
                f"the export's head covers {head.count} entries but it holds {len(rows)}",
            )
        problem = _prefix_problem(rows, head, "the export's head")
        if not problem.ok:
            return problem
        live = _prefix_problem(list(_rows(conn)), head, "the export")
        return ChainReport(len(rows), live.broken_seq, live.problem)

    def _signed(self, head: SignedHead) -> bool:
        return head.is_signed_by(self._public)


def stored_head(conn: sqlite3.Connection) -> SignedHead | None:
    """The head kept in the database; None if absent, ValueError if unreadable."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_HEAD_META_KEY,)).fetchone()
    if row is None:
        return None
    value = row[0]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return SignedHead.from_text(text)
