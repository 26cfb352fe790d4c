"""Signed deletion notices, kept in an outbox until the app's webhook takes them.

When a grant is revoked or an app banned, the same transaction queues a notice: a
JSON body telling the app which grants ended and that it must delete what it
received under them, signed with the platform's Ed25519 key. Delivery happens
after the commit, outside any lock, and never raises: a webhook that is down,
slow or failing only costs retries with a growing delay (logged), up to
``MAX_ATTEMPTS``; the service retries the outbox in the background.

An app checks a notice by verifying ``X-FaceGate-Signature`` (base64 Ed25519 over
the exact body bytes) with the platform key from ``GET /api/v1/platform-key``, and
uses ``notice_id`` to ignore a repeat (a notice can arrive twice if an answer is lost).
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.sharing.apps import App
from facegate.sharing.audit import Actor, AuditEvent, AuditLog
from facegate.sharing.clock import Clock, iso, utc_now
from facegate.sharing.consent import RevokeReason
from facegate.sharing.headers import (
    KEY_ID_HEADER,
    NOTICE_ID_HEADER,
    NOTICE_TYPE,
    SIGNATURE_HEADER,
)
from facegate.sharing.keys import key_id, public_key_b64
from facegate.sharing.store import SharingStore
from facegate.sharing.tokens import new_id
from facegate.sharing.webhook_targets import (
    PinnedTarget,
    Resolver,
    TargetRefused,
    pinned,
    system_resolver,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Delivery:
    """The outcome of one attempt; ``error`` is a short description, never a body."""

    notice_id: str
    app_id: str
    delivered: bool
    attempts: int
    error: str | None = None


def queue_notice(
    conn: sqlite3.Connection,
    platform_key: Ed25519PrivateKey,
    app: App,
    grant_ids: Iterable[str],
    reason: RevokeReason,
    now: datetime,
) -> str:
    """Sign a notice and put it in the outbox, inside the caller's transaction."""
    notice_id = new_id("ntc")
    body = json.dumps(
        {
            "type": NOTICE_TYPE,
            "version": 1,
            "notice_id": notice_id,
            "app_id": app.id,
            "grant_ids": sorted(grant_ids),
            "reason": reason.value,
            "issued_at": iso(now),
            "instruction": (
                "Delete all data received under these grants, and anything derived from it, now."
            ),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    signature = base64.b64encode(platform_key.sign(body)).decode("ascii")
    conn.execute(
        "INSERT INTO notices (id, app_id, url, body, signature, key_id, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            notice_id,
            app.id,
            app.webhook_url,
            body,
            signature,
            key_id(public_key_b64(platform_key)),
            iso(now),
            iso(now),
        ),
    )
    return notice_id


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8, 16 s ... after each failed attempt: gentle on an app that is down."""
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


class NoticeSender:
    """Delivers due notices from the outbox; safe to run from several processes."""

    def __init__(
        self,
        store: SharingStore,
        audit: AuditLog,
        clock: Clock = utc_now,
        timeout: float = TIMEOUT_SECONDS,
        *,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._store = store
        self._audit = audit
        self._resolve = resolve
        self._clock = clock
        self._timeout = timeout

    def pending(self) -> int:
        """Notices not yet delivered that will still be tried."""
        with self._store.read("count notices in") as conn:
            row = conn.execute(
                "SELECT count(*) FROM notices WHERE delivered_at IS NULL AND attempts < ?",
                (MAX_ATTEMPTS,),
            ).fetchone()
        return int(row[0])

    def deliver_due(self) -> list[Delivery]:
        """Try every notice whose time has come, once each; never raises for a webhook."""
        due = self._lease_due()
        if not due:
            return []
        outcomes = []
        with httpx.Client(timeout=self._timeout, trust_env=False, follow_redirects=False) as http:
            for notice_id, app_id, url, body, signature, kid, attempts, allow_local in due:
                try:
                    target = pinned(url, allow_local=bool(allow_local), resolve=self._resolve)
                except TargetRefused as refused:
                    error: str | None = f"refused: {refused}"[:300]
                else:
                    error = _post(http, target, body, signature, kid, notice_id)
                outcomes.append(self._record(notice_id, app_id, attempts + 1, error))
        return outcomes

    def _lease_due(self) -> list[tuple[str, str, str, bytes, str, str, int, int]]:
        """Pick due notices and push their next attempt past this one's timeout.

        The lease keeps a second sender (the CLI beside the service) from posting
        the same notice at the same moment. The common case, nothing due, is a
        plain read that never takes the write lock.
        """
        now = self._clock()
        due = (
            "SELECT n.id, n.app_id, n.url, n.body, n.signature, n.key_id, n.attempts,"
            " a.allow_local_webhook FROM notices n JOIN apps a ON a.id = n.app_id"
            " WHERE n.delivered_at IS NULL AND n.attempts < ? AND n.next_attempt_at <= ?"
            " ORDER BY n.created_at"
        )
        args = (MAX_ATTEMPTS, iso(now))
        with self._store.read("read the notice outbox of") as conn:
            if conn.execute(due, args).fetchone() is None:
                return []
        lease = iso(now + timedelta(seconds=self._timeout + 2))
        with self._store.write("lease notices in") as conn:
            rows = conn.execute(due, args).fetchall()
            for row in rows:
                conn.execute("UPDATE notices SET next_attempt_at = ? WHERE id = ?", (lease, row[0]))
        return [tuple(row) for row in rows]

    def _record(self, notice_id: str, app_id: str, attempts: int, error: str | None) -> Delivery:
        now = self._clock()
        with self._store.write("update the notice outbox of") as conn:
            if error is None:
                conn.execute(
                    "UPDATE notices SET attempts = ?, delivered_at = ?, last_error = NULL"
                    " WHERE id = ?",
                    (attempts, iso(now), notice_id),
                )
                self._audit.append(
                    conn,
                    now,
                    AuditEvent.NOTICE_DELIVERED,
                    Actor.PLATFORM,
                    app_id=app_id,
                    detail={"notice_id": notice_id, "attempts": attempts},
                )
            else:
                conn.execute(
                    "UPDATE notices SET attempts = ?, last_error = ?, next_attempt_at = ?"
                    " WHERE id = ?",
                    (attempts, error, iso(now + _backoff(attempts)), notice_id),
                )
                if attempts >= MAX_ATTEMPTS:
                    self._audit.append(
                        conn,
                        now,
                        AuditEvent.NOTICE_FAILED,
                        Actor.PLATFORM,
                        app_id=app_id,
                        detail={"notice_id": notice_id, "attempts": attempts, "error": error},
                    )
        if error is None:
            log.info("deletion notice %s delivered to app %s", notice_id, app_id)
        elif attempts >= MAX_ATTEMPTS:
            log.error(
                "deletion notice %s to app %s abandoned after %d attempts: %s",
                notice_id,
                app_id,
                attempts,
                error,
            )
        else:
            log.warning(
                "deletion notice %s to app %s failed (attempt %d, will retry): %s",
                notice_id,
                app_id,
                attempts,
                error,
            )
        return Delivery(notice_id, app_id, error is None, attempts, error)


def _post(
    http: httpx.Client,
    target: PinnedTarget,
    body: bytes,
    signature: str,
    kid: str,
    notice_id: str,
) -> str | None:
    """POST one notice to the checked address; None on a 2xx answer, else a short reason."""
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature,
        KEY_ID_HEADER: kid,
        NOTICE_ID_HEADER: notice_id,
    }
    try:
        response = http.post(
            target.url,
            content=body,
            headers=headers,
            extensions={"sni_hostname": target.sni_hostname},
        )
    except httpx.HTTPError as err:
        return f"{type(err).__name__}"
    if not response.is_success:
        return f"HTTP {response.status_code}"
    return None
