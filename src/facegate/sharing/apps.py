"""Registered apps: who they are, what they promised, and whether they are banned.

Every field a person sees on a consent prompt (name, developer, purpose, how long
the data is kept) is fixed at registration and checked here, at the edge, so the
prompt can be trusted. The webhook receives deletion notices; the public key
authenticates the app's own API calls.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from facegate.sharing.app_names import check_shown_name
from facegate.sharing.clock import iso
from facegate.sharing.errors import Conflict, InvalidApp, NotFound
from facegate.sharing.keys import parse_public_key
from facegate.sharing.terms import CURRENT_VERSION

MAX_RETENTION_DAYS = 3650
MAX_URL_CHARS = 2048
TEXT_LIMITS = MappingProxyType({"name": 80, "developer": 120, "contact": 200, "purpose": 1000})
"""Characters each declared text may hold: the API schema is generated from these."""
_SHOWN_NAMES = ("name", "developer")
"""Fields the consent prompt shows as who is asking: held to ``app_names`` rules."""
_COLUMNS = (
    "id, name, developer, contact, purpose, retention_days, webhook_url, public_key,"
    " registered_at, terms_version, terms_accepted_at, banned_at, ban_reason, allow_local_webhook"
)


@dataclass(frozen=True)
class AppRegistration:
    """What a developer declares; ``validated()`` returns a checked, canonical copy."""

    name: str
    developer: str
    contact: str
    purpose: str
    retention_days: int
    webhook_url: str
    public_key: str
    allow_local_webhook: bool = False
    """Only the person may set this (CLI), for an app on this machine: see webhook_targets."""

    def validated(self) -> AppRegistration:
        """Check every field; the public key comes back as raw base64 whatever it was given as."""
        texts = {field: _text(field, getattr(self, field)) for field in TEXT_LIMITS}
        for field in _SHOWN_NAMES:
            texts[field] = check_shown_name(field, texts[field])
        if "@" not in texts["contact"] and not texts["contact"].startswith(("https://", "http://")):
            raise InvalidApp("contact must be an e-mail address or an http(s) URL")
        retention = self.retention_days
        if isinstance(retention, bool) or not isinstance(retention, int):
            raise InvalidApp("retention_days must be a whole number of days")
        if not 0 <= retention <= MAX_RETENTION_DAYS:
            raise InvalidApp(f"retention_days must be between 0 and {MAX_RETENTION_DAYS}")
        return AppRegistration(
            **texts,
            retention_days=retention,
            webhook_url=validate_webhook_url(self.webhook_url),
            public_key=parse_public_key(self.public_key),
            allow_local_webhook=self.allow_local_webhook is True,
        )


@dataclass(frozen=True)
class App:
    """A registered app as stored; safe to show and to log (it holds no secret)."""

    id: str
    name: str
    developer: str
    contact: str
    purpose: str
    retention_days: int
    webhook_url: str
    public_key: str
    registered_at: datetime
    terms_version: str | None
    terms_accepted_at: datetime | None
    banned_at: datetime | None
    ban_reason: str | None
    allow_local_webhook: bool = False

    @property
    def banned(self) -> bool:
        return self.banned_at is not None

    @property
    def accepted_current_terms(self) -> bool:
        return self.terms_version == CURRENT_VERSION


def _text(field: str, value: object) -> str:
    """A one-line, printable, bounded string: what a consent prompt can show safely."""
    limit = TEXT_LIMITS[field]
    if not isinstance(value, str):
        raise InvalidApp(f"{field} must be text")
    value = unicodedata.normalize("NFKC", value).strip()
    if not value or len(value) > limit:
        raise InvalidApp(f"{field} must be 1 to {limit} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise InvalidApp(f"{field} must not contain control or invisible formatting characters")
    return value


def validate_webhook_url(url: object) -> str:
    """An absolute http(s) URL with a host and no embedded credentials."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS or not url.isascii():
        raise InvalidApp(
            f"webhook_url must be an http(s) URL of at most {MAX_URL_CHARS} characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise InvalidApp(f"webhook_url is not a valid URL: {err}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidApp("webhook_url must be an absolute http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise InvalidApp("webhook_url must not embed a user name or password")
    if any(ch.isspace() for ch in url) or (port is not None and port == 0):
        raise InvalidApp("webhook_url is not a valid URL")
    return url


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _app(row: tuple[Any, ...]) -> App:
    app_id, name, developer, contact, purpose, retention, url, key, registered, *rest = row
    terms, accepted, banned, reason, allow_local = rest
    return App(
        id=app_id,
        name=name,
        developer=developer,
        contact=contact,
        purpose=purpose,
        retention_days=int(retention),
        webhook_url=url,
        public_key=key,
        registered_at=datetime.fromisoformat(registered),
        terms_version=terms,
        terms_accepted_at=_dt(accepted),
        banned_at=_dt(banned),
        ban_reason=reason,
        allow_local_webhook=bool(allow_local),
    )


def insert_app(conn: sqlite3.Connection, app_id: str, reg: AppRegistration, now: datetime) -> App:
    """Store a validated registration; a public key already in use is a Conflict."""
    if conn.execute("SELECT 1 FROM apps WHERE public_key = ?", (reg.public_key,)).fetchone():
        raise Conflict("another app is registered with this public key: generate a new key pair")
    conn.execute(
        "INSERT INTO apps (id, name, developer, contact, purpose, retention_days, webhook_url,"
        " public_key, registered_at, allow_local_webhook) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            app_id,
            reg.name,
            reg.developer,
            reg.contact,
            reg.purpose,
            reg.retention_days,
            reg.webhook_url,
            reg.public_key,
            iso(now),
            int(reg.allow_local_webhook),
        ),
    )
    return load_app(conn, app_id)


def load_app(conn: sqlite3.Connection, app_id: str) -> App:
    row = conn.execute(f"SELECT {_COLUMNS} FROM apps WHERE id = ?", (app_id,)).fetchone()
    if row is None:
        raise NotFound(f"no app {app_id!r} is registered")
    return _app(row)


def all_apps(conn: sqlite3.Connection) -> list[App]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM apps ORDER BY registered_at, id").fetchall()
    return [_app(row) for row in rows]


def record_terms(conn: sqlite3.Connection, app_id: str, version: str, now: datetime) -> None:
    conn.execute(
        "UPDATE apps SET terms_version = ?, terms_accepted_at = ? WHERE id = ?",
        (version, iso(now), app_id),
    )


def record_ban(conn: sqlite3.Connection, app_id: str, reason: str, now: datetime) -> None:
    conn.execute(
        "UPDATE apps SET banned_at = ?, ban_reason = ? WHERE id = ?",
        (iso(now), reason, app_id),
    )
