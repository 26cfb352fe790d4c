"""Signed deletion notices reach a real HTTP server on 127.0.0.1, and failures never crash."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from facegate.sharing.keys import key_id
from facegate.sharing.notices import MAX_ATTEMPTS
from facegate.sharing.service import Sharing, Via
from sharing_service import MovableClock, add_app, approved_token, open_sharing
from webhook_receiver import Received, WebhookReceiver


def verify_notice(sharing: Sharing, notice: Received) -> dict[str, object]:
    """What an app must do: check the signature with the published platform key."""
    public = sharing.platform_public_key
    assert notice.headers["x-facegate-key-id"] == key_id(public)
    signature = base64.b64decode(notice.headers["x-facegate-signature"])
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(signature, notice.body)
    body: dict[str, object] = json.loads(notice.body)
    assert notice.headers["x-facegate-notice-id"] == body["notice_id"]
    return body


def test_a_revocation_sends_a_signed_notice(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, open_sharing(tmp_path) as sharing:
        app, _ = add_app(sharing, hook.url)
        issued = approved_token(sharing, app.id)
        sharing.revoke(issued.grant.id, Via.WEB)
        deliveries = sharing.deliver_notices()
        assert [d.delivered for d in deliveries] == [True]
        (notice,) = hook.wait_for(1)
        assert notice.path == "/facegate/notices"
        body = verify_notice(sharing, notice)
        assert body["type"] == "facegate.deletion_notice"
        assert body["app_id"] == app.id
        assert body["grant_ids"] == [issued.grant.id]
        assert body["reason"] == "revoked_by_user"
        assert "Delete all data" in str(body["instruction"])
        assert issued.token.encode() not in notice.body
        assert sharing.deliver_notices() == []
        assert sharing.audit_entries()[-1].event == "notice_delivered"


def test_a_forged_notice_fails_verification(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, open_sharing(tmp_path) as sharing:
        app, _ = add_app(sharing, hook.url)
        sharing.ban_app(app.id, "advertising")
        sharing.deliver_notices()
        (notice,) = hook.wait_for(1)
        assert verify_notice(sharing, notice)["reason"] == "app_banned"
        tampered = Received(notice.path, notice.headers, notice.body.replace(b"banned", b"BANNED"))
        with pytest.raises(InvalidSignature):
            verify_notice(sharing, tampered)


def test_a_failing_webhook_is_retried_with_backoff_and_never_raises(tmp_path: Path) -> None:
    clock = MovableClock()
    with WebhookReceiver(status=500) as hook, open_sharing(tmp_path, clock) as sharing:
        app, _ = add_app(sharing, hook.url)
        sharing.revoke(approved_token(sharing, app.id).grant.id, Via.CLI)
        (first,) = sharing.deliver_notices()
        assert (first.delivered, first.attempts, first.error) == (False, 1, "HTTP 500")
        assert sharing.deliver_notices() == []  # not due before its backoff
        hook.status = 200
        clock.advance(5)
        (second,) = sharing.deliver_notices()
        assert second.delivered and second.attempts == 2
        assert len(hook.wait_for(2)) == 2
        assert sharing.notices.pending() == 0


def test_an_unreachable_webhook_is_abandoned_after_the_last_attempt(tmp_path: Path) -> None:
    clock = MovableClock()
    with WebhookReceiver() as hook:
        dead_url = hook.url
    with open_sharing(tmp_path, clock) as sharing:
        app, _ = add_app(sharing, dead_url)
        sharing.revoke(approved_token(sharing, app.id).grant.id, Via.CLI)
        outcomes = []
        for _ in range(MAX_ATTEMPTS + 2):
            outcomes += sharing.deliver_notices()
            clock.advance(600)
        assert len(outcomes) == MAX_ATTEMPTS
        assert not any(o.delivered for o in outcomes)
        assert outcomes[0].error == "ConnectError"
        assert sharing.notices.pending() == 0
        assert sharing.audit_entries()[-1].event == "notice_failed"
        with sqlite3.connect(sharing.store.path) as conn:
            (attempts, error) = conn.execute("SELECT attempts, last_error FROM notices").fetchone()
        assert (attempts, error) == (MAX_ATTEMPTS, "ConnectError")


def test_cli_revoke_delivers_the_notice(home: Path) -> None:
    from typer.testing import CliRunner

    from facegate.cli import app as cli_app

    with WebhookReceiver() as hook:
        with open_sharing(home) as sharing:
            app, _ = add_app(sharing, hook.url)
            issued = approved_token(sharing, app.id)
        result = CliRunner().invoke(cli_app, ["grants", "revoke", issued.grant.id])
        assert result.exit_code == 0, result.output
        assert "delivered" in result.output
        with open_sharing(home) as sharing:
            body = verify_notice(sharing, hook.wait_for(1)[0])
        assert body["grant_ids"] == [issued.grant.id]
