"""Apps, terms, scopes, consent and tokens against a real SQLite store: deny by default."""

from __future__ import annotations

import ast
import base64
import hashlib
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facegate.sharing.audit import AuditEvent
from facegate.sharing.consent import GrantState, RequestStatus, RevokeReason
from facegate.sharing.errors import (
    AppNotAllowed,
    BadCredentials,
    Conflict,
    ConsentRequired,
    InvalidApp,
    InvalidScope,
    NotFound,
    SharingStoreError,
)
from facegate.sharing.keys import parse_public_key
from facegate.sharing.scopes import Scope, parse_scopes
from facegate.sharing.service import MAX_PENDING_REQUESTS, Sharing, Via
from facegate.sharing.terms import CURRENT_VERSION, current_terms
from sharing_service import (
    ALL_SCOPES,
    MovableClock,
    add_app,
    approved_token,
    open_sharing,
    registration,
    sharing_fixture,  # noqa: F401
)

SHARING_SRC = Path(__file__).resolve().parents[1] / "src" / "facegate" / "sharing"


# --- scopes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["identity", "embedding", "template", "landmarks", "face_id"])
def test_identity_is_never_a_scope(name: str) -> None:
    with pytest.raises(InvalidScope, match="can never be granted") as info:
        parse_scopes([name])
    assert "expressions, head_pose, face_map" in str(info.value)


def test_unknown_and_empty_scopes_are_errors() -> None:
    with pytest.raises(InvalidScope, match="unknown scope 'mood'"):
        parse_scopes(["expressions", "mood"])
    with pytest.raises(InvalidScope, match="at least one scope"):
        parse_scopes([])
    assert parse_scopes(["face_map", "face_map"]) == {Scope.FACE_MAP}


def test_asking_for_identity_records_nothing(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    before = len(sharing.audit_entries())
    with pytest.raises(InvalidScope, match="identity"):
        sharing.request_consent(app.id, ["expressions", "identity"])
    assert sharing.consent_requests() == []
    assert len(sharing.audit_entries()) == before


# --- apps and terms ---------------------------------------------------------------------


def test_public_key_accepts_pem_and_raw_base64_as_one_canonical_form() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    canonical = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_public_key(pem) == parse_public_key(canonical) == parse_public_key(urlsafe)
    assert parse_public_key(pem) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a key",
        base64.b64encode(b"x" * 31).decode(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    ],
)
def test_registration_refuses_keys_that_are_not_ed25519(sharing: Sharing, bad: str) -> None:
    reg = registration(Ed25519PrivateKey.generate(), "https://example.org/hook")
    with pytest.raises(InvalidApp, match="public_key"):
        sharing.register_app(type(reg)(**{**reg.__dict__, "public_key": bad}), Via.CLI)
    assert sharing.apps() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("webhook_url", "ftp://example.org/x", "http"),
        ("webhook_url", "https://user:pw@example.org/x", "user name or password"),
        ("webhook_url", "/relative", "http"),
        ("retention_days", -1, "between 0 and"),
        ("retention_days", True, "whole number"),
        ("name", "", "1 to 80"),
        ("name", "Nice\u202eevil", "control or invisible"),
        ("contact", "nobody", "e-mail address or an http"),
    ],
)
def test_registration_checks_every_field(
    sharing: Sharing, field: str, value: object, message: str
) -> None:
    reg = registration(Ed25519PrivateKey.generate(), "https://example.org/hook")
    with pytest.raises(InvalidApp, match=message):
        sharing.register_app(type(reg)(**{**reg.__dict__, field: value}), Via.CLI)


def test_a_key_registers_one_app_only(sharing: Sharing) -> None:
    key = Ed25519PrivateKey.generate()
    sharing.register_app(registration(key, "https://example.org/a"), Via.CLI)
    with pytest.raises(Conflict, match="public key"):
        sharing.register_app(registration(key, "https://example.org/b", "Other"), Via.CLI)


def test_terms_forbid_sale_advertising_and_authentication() -> None:
    text = current_terms().text.lower()
    assert current_terms().version == CURRENT_VERSION
    for promise in ("no sale", "no advertising", "no authentication", "third part"):
        assert promise in text


def test_consent_needs_the_current_terms_first(sharing: Sharing) -> None:
    app = sharing.register_app(
        registration(Ed25519PrivateKey.generate(), "https://example.org/hook"), Via.CLI
    )
    with pytest.raises(AppNotAllowed, match="accept the terms"):
        sharing.request_consent(app.id, ["expressions"])
    with pytest.raises(InvalidApp, match="terms in force"):
        sharing.accept_terms(app.id, "0")
    accepted = sharing.accept_terms(app.id, CURRENT_VERSION)
    assert accepted.terms_version == CURRENT_VERSION
    assert accepted.terms_accepted_at is not None
    assert sharing.request_consent(app.id, ["expressions"]).status(sharing.clock()) == "pending"


# --- consent and tokens -----------------------------------------------------------------


def test_no_grant_no_token(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    request = sharing.request_consent(app.id, ["expressions"])
    with pytest.raises(ConsentRequired, match="pending"):
        sharing.claim_token(app.id, request.id)
    sharing.refuse(request.id, Via.WEB)
    with pytest.raises(ConsentRequired, match="refused"):
        sharing.claim_token(app.id, request.id)
    with pytest.raises(Conflict, match="refused, not pending"):
        sharing.approve(request.id, Via.WEB)
    assert sharing.grants() == []


def test_a_grant_has_exactly_the_requested_scopes_and_duration(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    request = sharing.request_consent(app.id, ["head_pose", "expressions"], 600)
    grant = sharing.approve(request.id, Via.CLI)
    assert grant.scopes == {Scope.EXPRESSIONS, Scope.HEAD_POSE}
    assert (grant.expires_at - grant.created_at).total_seconds() == 600
    assert sharing.consent_request(request.id).status(sharing.clock()) is RequestStatus.APPROVED


def test_a_token_is_issued_once_and_stored_only_as_its_hash(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    issued = approved_token(sharing, app.id)
    with pytest.raises(Conflict, match="already issued"):
        sharing.claim_token(app.id, issued.grant.request_id)
    assert issued.token not in repr(issued)
    with sqlite3.connect(sharing.store.path) as conn:
        (stored,) = conn.execute("SELECT token_hash FROM grants").fetchone()
    assert stored == hashlib.sha256(issued.token.encode()).hexdigest()
    for path in sharing.store.path.parent.iterdir():
        assert issued.token.encode() not in path.read_bytes(), path


def test_another_app_cannot_claim_or_see_a_request(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    other, _ = add_app(sharing, name="Other")
    request = sharing.request_consent(app.id, ["expressions"])
    sharing.approve(request.id, Via.CLI)
    with pytest.raises(NotFound):
        sharing.claim_token(other.id, request.id)
    with pytest.raises(NotFound):
        sharing.request_of_app(other.id, request.id)


def test_authorize_refuses_unknown_revoked_and_expired_tokens(tmp_path: Path) -> None:
    clock = MovableClock()
    with open_sharing(tmp_path, clock) as sharing:
        app, _ = add_app(sharing)
        for bad in ("", "fgt_" + "A" * 43, "x" * 500, None, 42):
            with pytest.raises(BadCredentials):
                sharing.authorize(bad)
        revoked = approved_token(sharing, app.id)
        grant, _ = sharing.authorize(revoked.token)
        assert grant.id == revoked.grant.id
        sharing.revoke(revoked.grant.id, Via.CLI)
        with pytest.raises(ConsentRequired, match="revoked"):
            sharing.authorize(revoked.token)
        expiring = approved_token(sharing, app.id, seconds=60)
        clock.advance(61)
        with pytest.raises(ConsentRequired, match="expired"):
            sharing.authorize(expiring.token)
        assert sharing.grant(expiring.grant.id).state(clock()) is GrantState.EXPIRED
        sharing.flush_refusals(everything=True)
        refused = [e for e in sharing.audit_entries() if e.event == "stream_refused"]
        grant_ids = {g for e in refused for g in e.detail["grant_ids"]}
        assert grant_ids == {revoked.grant.id, expiring.grant.id}
        assert sum(e.detail["attempts"] for e in refused) == 2


def test_a_pending_request_lapses(tmp_path: Path) -> None:
    clock = MovableClock()
    with open_sharing(tmp_path, clock) as sharing:
        app, _ = add_app(sharing)
        request = sharing.request_consent(app.id, ["expressions"])
        clock.advance(16 * 60)
        with pytest.raises(Conflict, match="expired"):
            sharing.approve(request.id, Via.WEB)
        assert sharing.consent_requests(RequestStatus.PENDING) == []


def test_an_app_cannot_queue_up_consent_prompts(tmp_path: Path) -> None:
    """Consent fatigue: an app may have only MAX_PENDING_REQUESTS waiting; another is
    refused and recorded nowhere, and room opens as the person decides or they lapse."""
    clock = MovableClock()
    with open_sharing(tmp_path, clock) as sharing:
        app, _ = add_app(sharing)
        other, _ = add_app(sharing, name="Other")
        asked = [
            sharing.request_consent(app.id, ["expressions"]) for _ in range(MAX_PENDING_REQUESTS)
        ]
        with pytest.raises(Conflict, match="waiting for the person"):
            sharing.request_consent(app.id, ["expressions"])
        assert len(sharing.consent_requests()) == MAX_PENDING_REQUESTS
        requested = [e for e in sharing.audit_entries() if e.event == AuditEvent.CONSENT_REQUESTED]
        assert len(requested) == MAX_PENDING_REQUESTS
        sharing.request_consent(other.id, ["expressions"])  # another app is not affected
        sharing.refuse(asked[0].id, Via.WEB)
        sharing.request_consent(app.id, ["expressions"])
        clock.advance(16 * 60)
        for _ in range(MAX_PENDING_REQUESTS):
            sharing.request_consent(app.id, ["expressions"])


def test_a_ban_invalidates_every_token_of_the_app_only(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    other, _ = add_app(sharing, name="Other")
    tokens = [approved_token(sharing, app.id, [scope]) for scope in ALL_SCOPES]
    kept = approved_token(sharing, other.id)
    ended: list[frozenset[str]] = []
    sharing.on_revocation(ended.append)
    revoked = sharing.ban_app(app.id, "sold data")
    assert {g.id for g in revoked} == {t.grant.id for t in tokens}
    assert ended == [frozenset(t.grant.id for t in tokens)]
    for issued in tokens:
        with pytest.raises(ConsentRequired):
            sharing.authorize(issued.token)
        assert sharing.grant(issued.grant.id).revoked_reason is RevokeReason.BAN
    assert sharing.authorize(kept.token)[1].id == other.id
    with pytest.raises(AppNotAllowed, match="banned"):
        sharing.request_consent(app.id, ["expressions"])
    with pytest.raises(Conflict, match="already banned"):
        sharing.ban_app(app.id, "again")


def test_revocation_is_final_and_heard_by_listeners(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    issued = approved_token(sharing, app.id)
    ended: list[frozenset[str]] = []
    sharing.on_revocation(ended.append)
    sharing.revoke(issued.grant.id, Via.WEB)
    assert ended == [frozenset({issued.grant.id})]
    assert sharing.ended_grants([issued.grant.id, "grt_unknown"]) == {
        issued.grant.id,
        "grt_unknown",
    }
    with pytest.raises(Conflict, match="already revoked"):
        sharing.revoke(issued.grant.id, Via.WEB)
    with pytest.raises(NotFound):
        sharing.revoke("grt_missing", Via.WEB)


# --- the store --------------------------------------------------------------------------


def test_the_store_is_a_separate_private_file(sharing: Sharing) -> None:
    path = sharing.store.path
    assert path.name == "sharing.sqlite3"
    assert path.stat().st_mode & 0o777 == 0o600
    key_file = path.parent / "sharing_platform_ed25519.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "users" not in tables and not any("template" in t for t in tables)


def test_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "sharing.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(SharingStoreError, match="not a FaceGate sharing database"):
        open_sharing(tmp_path)
    assert path.read_bytes() == before


def test_sharing_never_imports_biometrics_or_the_vault() -> None:
    for source in SHARING_SRC.rglob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("facegate.biometrics", "facegate.vault")), (
                    f"{source.name} imports {name}"
                )
