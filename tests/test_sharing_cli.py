"""The sharing commands through Typer's runner, over a real sharing database in $FACEGATE_HOME."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import Result

from conftest import Invoke
from facegate.sharing.terms import CURRENT_VERSION
from sharing_service import add_app, approved_token, open_sharing


def _register(cli: Invoke, key_arg: str) -> Result:
    return cli(
        "apps", "register",
        "--name", "Mirror Game",
        "--developer", "Example Studio",
        "--contact", "privacy@example.org",
        "--purpose", "Animate a character",
        "--retention-days", "7",
        "--webhook", "https://example.org/hook",
        "--public-key", key_arg,
    )  # fmt: skip


def test_register_accept_terms_and_list(cli: Invoke, tmp_path: Path) -> None:
    pem = tmp_path / "app.pub.pem"
    pem.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = _register(cli, str(pem))
    assert result.exit_code == 0, result.output
    app_id = re.search(r"as (app_\S+)", result.output).group(1)  # type: ignore[union-attr]
    accepted = cli("terms", "accept", app_id, CURRENT_VERSION)
    assert accepted.exit_code == 0, accepted.output
    listed = cli("apps", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["id"] == app_id and row["terms_version"] == CURRENT_VERSION and not row["banned"]


def test_bad_input_is_one_error_line_with_exit_2(cli: Invoke) -> None:
    result = _register(cli, "not-a-key")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: InvalidApp: public_key")
    assert len(result.stderr.strip().splitlines()) == 1
    missing = cli("consent", "approve", "req_nope")
    assert missing.exit_code == 2 and "NotFound" in missing.stderr
    wrong_terms = cli("terms", "accept", "app_nope", "0")
    assert wrong_terms.exit_code == 2 and "terms in force" in wrong_terms.stderr


def test_terms_show_prints_the_terms(cli: Invoke) -> None:
    result = cli("terms", "show")
    assert result.exit_code == 0
    assert f"terms version {CURRENT_VERSION}" in result.output
    assert "No sale" in result.output and "No advertising" in result.output


def test_approve_refuse_list_and_revoke(cli: Invoke, home: Path) -> None:
    with open_sharing(home) as sharing:
        registered, _ = add_app(sharing)
        yes = sharing.request_consent(registered.id, ["expressions", "head_pose"], 7200)
        no = sharing.request_consent(registered.id, ["face_map"])
    pending = cli("consent", "list")
    assert yes.id in pending.output and no.id in pending.output
    approved = cli("consent", "approve", yes.id)
    assert approved.exit_code == 0, approved.output
    assert "allowed Mirror Game expressions, head_pose" in approved.output
    grant_id = re.search(r"grant (grt_\S+)\)", approved.output).group(1)  # type: ignore[union-attr]
    refused = cli("consent", "refuse", no.id)
    assert refused.exit_code == 0 and "refused" in refused.output
    assert cli("consent", "list").output.strip() == "no consent requests"
    again = cli("consent", "approve", no.id)
    assert again.exit_code == 2 and "refused, not pending" in again.stderr
    grants = cli("grants", "list")
    assert grant_id in grants.output and "active" in grants.output
    revoked = cli("grants", "revoke", grant_id)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in cli("grants", "list").output


def test_ban_revokes_every_grant(cli: Invoke, home: Path) -> None:
    with open_sharing(home) as sharing:
        registered, _ = add_app(sharing)
        tokens = [approved_token(sharing, registered.id) for _ in range(3)]
    result = cli("apps", "ban", registered.id, "--reason", "sold data")
    assert result.exit_code == 0, result.output
    assert "3 grant(s) revoked" in result.output
    with open_sharing(home) as sharing:
        assert all(sharing.grant(t.grant.id).revoked_at is not None for t in tokens)
    assert "banned" in cli("apps", "list").output


def test_osc_without_a_service_says_how_to_start_one(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACEGATE_TOKEN", raising=False)
    result = cli("osc", "--service", "http://127.0.0.1:9", "--frames", "1")  # discard port
    assert result.exit_code == 2
    assert "cannot reach http://127.0.0.1:9" in result.stderr
    assert "facegate serve" in result.stderr


def test_listings_print_json_for_scripts(cli: Invoke, home: Path) -> None:
    with open_sharing(home) as sharing:
        registered, _ = add_app(sharing)
        pending = sharing.request_consent(registered.id, ["expressions"], 3600)
    (request,) = json.loads(cli("consent", "list", "--json").output)
    assert request["request"] == pending.id and request["scopes"] == ["expressions"]
    assert request["status"] == "pending" and request["grant_seconds"] == 3600
    assert cli("consent", "approve", pending.id).exit_code == 0
    (grant,) = json.loads(cli("grants", "list", "--json").output)
    assert grant["app_id"] == registered.id and grant["state"] == "active"
    entries = json.loads(cli("audit", "show", "--json").output)
    assert entries and {"seq", "at", "event", "actor", "app_id", "scopes", "frames"} <= set(
        entries[-1]
    )
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)


def test_piped_listings_keep_every_value_whole(cli: Invoke, home: Path) -> None:
    with open_sharing(home) as sharing:
        registered, _ = add_app(sharing)
        pending = sharing.request_consent(registered.id, ["expressions", "head_pose"], 3600)
    assert cli("consent", "approve", pending.id).exit_code == 0
    table = cli("audit", "show").output.splitlines()
    for entry in json.loads(cli("audit", "show", "--json").output):
        assert any(entry["event"] in line and entry["at"] in line for line in table), entry
    grants = cli("grants", "list").output
    assert registered.id in grants and "expressions, head_pose" in grants
