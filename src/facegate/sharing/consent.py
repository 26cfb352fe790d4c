"""Consent requests and the grants they become.

An app asks for scopes and a duration (a ``ConsentRequest``); the person approves or
refuses it. Approval creates a ``Grant``: scoped, expiring and revocable. The app
then claims the grant's token exactly once; only the token's hash is stored, so the
token exists in clear only in the app's hands. Times are timezone-aware UTC.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from facegate.sharing.clock import iso
from facegate.sharing.errors import NotFound
from facegate.sharing.scopes import Scope, to_names

REQUEST_TTL_SECONDS = 15 * 60
"""How long a consent request waits for the person before it lapses."""
DEFAULT_GRANT_SECONDS = 24 * 3600
MAX_GRANT_SECONDS = 30 * 24 * 3600
"""The longest grant an app may ask for: consent is renewed at least monthly."""


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"


class GrantState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class RevokeReason(StrEnum):
    """Why a grant ended early: the person revoked it, or the platform banned the app."""

    USER = "revoked_by_user"
    BAN = "app_banned"


@dataclass(frozen=True)
class ConsentRequest:
    id: str
    app_id: str
    scopes: frozenset[Scope]
    grant_seconds: int
    created_at: datetime
    expires_at: datetime
    stored_status: RequestStatus
    decided_at: datetime | None
    grant_id: str | None

    def status(self, now: datetime) -> RequestStatus:
        """A pending request past its deadline reads as expired; nobody can decide it."""
        if self.stored_status is RequestStatus.PENDING and now >= self.expires_at:
            return RequestStatus.EXPIRED
        return self.stored_status


@dataclass(frozen=True)
class Grant:
    """A person's permission for one app to receive some scopes until ``expires_at``."""

    id: str
    app_id: str
    request_id: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime
    token_issued_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: RevokeReason | None

    def state(self, now: datetime) -> GrantState:
        if self.revoked_at is not None:
            return GrantState.REVOKED
        if now >= self.expires_at:
            return GrantState.EXPIRED
        return GrantState.ACTIVE


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _scopes(text: str) -> frozenset[Scope]:
    return frozenset(Scope(name) for name in json.loads(text))


def scopes_text(scopes: frozenset[Scope]) -> str:
    """Scopes as stored: a JSON list in the enum's order."""
    return json.dumps(to_names(scopes))


_REQUEST_COLUMNS = (
    "id, app_id, scopes, grant_seconds, created_at, expires_at, status, decided_at, grant_id"
)
_GRANT_COLUMNS = (
    "id, app_id, request_id, scopes, created_at, expires_at, token_issued_at, revoked_at,"
    " revoked_reason"
)


def _request(row: tuple[Any, ...]) -> ConsentRequest:
    req_id, app_id, scopes, seconds, created, expires, status, decided, grant_id = row
    return ConsentRequest(
        id=req_id,
        app_id=app_id,
        scopes=_scopes(scopes),
        grant_seconds=int(seconds),
        created_at=datetime.fromisoformat(created),
        expires_at=datetime.fromisoformat(expires),
        stored_status=RequestStatus(status),
        decided_at=_dt(decided),
        grant_id=grant_id,
    )


def _grant(row: tuple[Any, ...]) -> Grant:
    grant_id, app_id, request_id, scopes, created, expires, issued, revoked, reason = row
    return Grant(
        id=grant_id,
        app_id=app_id,
        request_id=request_id,
        scopes=_scopes(scopes),
        created_at=datetime.fromisoformat(created),
        expires_at=datetime.fromisoformat(expires),
        token_issued_at=_dt(issued),
        revoked_at=_dt(revoked),
        revoked_reason=None if reason is None else RevokeReason(reason),
    )


def insert_request(conn: sqlite3.Connection, request: ConsentRequest) -> None:
    conn.execute(
        f"INSERT INTO consent_requests ({_REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            request.id,
            request.app_id,
            scopes_text(request.scopes),
            request.grant_seconds,
            iso(request.created_at),
            iso(request.expires_at),
            request.stored_status.value,
            None,
            None,
        ),
    )


def load_request(conn: sqlite3.Connection, request_id: str) -> ConsentRequest:
    row = conn.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM consent_requests WHERE id = ?", (request_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no consent request {request_id!r}")
    return _request(row)


def all_requests(conn: sqlite3.Connection) -> list[ConsentRequest]:
    rows = conn.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM consent_requests ORDER BY created_at DESC, id"
    ).fetchall()
    return [_request(row) for row in rows]


def record_decision(
    conn: sqlite3.Connection,
    request_id: str,
    status: RequestStatus,
    now: datetime,
    grant_id: str | None,
) -> None:
    conn.execute(
        "UPDATE consent_requests SET status = ?, decided_at = ?, grant_id = ? WHERE id = ?",
        (status.value, iso(now), grant_id, request_id),
    )


def insert_grant(conn: sqlite3.Connection, grant: Grant) -> None:
    conn.execute(
        f"INSERT INTO grants ({_GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
        (
            grant.id,
            grant.app_id,
            grant.request_id,
            scopes_text(grant.scopes),
            iso(grant.created_at),
            iso(grant.expires_at),
        ),
    )


def load_grant(conn: sqlite3.Connection, grant_id: str) -> Grant:
    row = conn.execute(f"SELECT {_GRANT_COLUMNS} FROM grants WHERE id = ?", (grant_id,)).fetchone()
    if row is None:
        raise NotFound(f"no grant {grant_id!r}")
    return _grant(row)


def grant_by_token_hash(conn: sqlite3.Connection, token_hash: str) -> Grant | None:
    row = conn.execute(
        f"SELECT {_GRANT_COLUMNS} FROM grants WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    return None if row is None else _grant(row)


def all_grants(conn: sqlite3.Connection, app_id: str | None = None) -> list[Grant]:
    where, args = ("WHERE app_id = ?", (app_id,)) if app_id else ("", ())
    rows = conn.execute(
        f"SELECT {_GRANT_COLUMNS} FROM grants {where} ORDER BY created_at DESC, id", args
    ).fetchall()
    return [_grant(row) for row in rows]


def record_token(conn: sqlite3.Connection, grant_id: str, token_hash: str, now: datetime) -> None:
    conn.execute(
        "UPDATE grants SET token_hash = ?, token_issued_at = ? WHERE id = ?",
        (token_hash, iso(now), grant_id),
    )


def record_revocation(
    conn: sqlite3.Connection, grant_id: str, reason: RevokeReason, now: datetime
) -> None:
    conn.execute(
        "UPDATE grants SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        (iso(now), reason.value, grant_id),
    )


def ended_grant_ids(conn: sqlite3.Connection, grant_ids: list[str], now: datetime) -> set[str]:
    """Which of ``grant_ids`` no longer allow streaming: revoked, expired or app banned.

    The service polls this for its live streams, so a revocation made by another
    process (the CLI) still closes them within a second.
    """
    if not grant_ids:
        return set()
    marks = ",".join("?" * len(grant_ids))
    rows = conn.execute(
        f"SELECT g.id FROM grants g JOIN apps a ON a.id = g.app_id WHERE g.id IN ({marks})"
        " AND (g.revoked_at IS NOT NULL OR g.expires_at <= ? OR a.banned_at IS NOT NULL)",
        (*grant_ids, iso(now)),
    ).fetchall()
    known = {
        row[0] for row in conn.execute(f"SELECT id FROM grants WHERE id IN ({marks})", grant_ids)
    }
    return {row[0] for row in rows} | (set(grant_ids) - known)
