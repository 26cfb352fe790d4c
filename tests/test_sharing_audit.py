"""The hash-chained audit log: what it records, and that tampering is found and named."""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app as cli_app
from facegate.config import load_settings
from facegate.sharing.audit import GENESIS_HASH, entry_hash, verify_export
from facegate.sharing.service import Sharing, Via
from sharing_service import add_app, approved_token, sharing_fixture  # noqa: F401

EXPORT_KEYS = {
    "seq",
    "at",
    "event",
    "actor",
    "app_id",
    "grant_id",
    "scopes",
    "started_at",
    "ended_at",
    "frames",
    "detail",
    "prev_hash",
    "hash",
}


def _history(sharing: Sharing) -> dict[str, str]:
    """Every kind of event once: grant, refusal, revocation, ban, a stream session."""
    app, _ = add_app(sharing)
    issued = approved_token(sharing, app.id, ["expressions", "head_pose"])
    refused = sharing.request_consent(app.id, ["face_map"])
    sharing.refuse(refused.id, Via.CLI)
    grant, _ = sharing.authorize(issued.token)
    started = sharing.stream_started(grant, "ses_1")
    sharing.stream_ended(grant, "ses_1", started, 42, "the app disconnected")
    sharing.revoke(issued.grant.id, Via.WEB)
    sharing.ban_app(app.id, "sold data")
    return {"app": app.id, "grant": issued.grant.id, "token": issued.token}


def _tamper(path: Path, statement: str, *args: object) -> None:
    """What someone with the file can do: drop the guard triggers, then edit."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute(statement, args)


def test_every_decision_and_session_is_recorded(sharing: Sharing) -> None:
    ids = _history(sharing)
    entries = sharing.audit_entries()
    events = [e.event for e in entries]
    for event in ("granted", "refused", "token_issued", "stream_started", "stream_ended"):
        assert event in events
    assert events.index("revoked") < events.index("banned")
    granted = next(e for e in entries if e.event == "granted")
    assert (granted.actor, granted.app_id, granted.grant_id) == ("user", ids["app"], ids["grant"])
    assert granted.scopes == ("expressions", "head_pose")
    ended = next(e for e in entries if e.event == "stream_ended")
    assert ended.frames == 42 and ended.started_at and ended.ended_at
    assert ended.started_at <= ended.ended_at
    refused = next(e for e in entries if e.event == "refused")
    assert refused.scopes == ("face_map",) and refused.detail["via"] == "cli"
    banned = next(e for e in entries if e.event == "banned")
    assert (banned.actor, banned.detail["reason"]) == ("platform", "sold data")


def test_the_chain_links_every_entry_to_the_one_before(sharing: Sharing) -> None:
    _history(sharing)
    entries = sharing.audit_entries()
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
        assert after.seq == before.seq + 1
    report = sharing.verify_audit()
    assert report.ok and report.entries == len(entries)


def test_sqlite_itself_refuses_edits_and_deletes(sharing: Sharing) -> None:
    _history(sharing)
    with sqlite3.connect(sharing.store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET frames = 0 WHERE event = 'stream_ended'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE seq = 1")


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit SET frames = 1 WHERE event = 'stream_ended'", "altered"),
        ("UPDATE audit SET scopes = 'expressions' WHERE event = 'granted'", "altered"),
        (
            "UPDATE audit SET at = '2020-01-01T00:00:00.000000+00:00' WHERE event = 'refused'",
            "altered",
        ),
    ],
)
def test_an_edited_entry_is_named(sharing: Sharing, statement: str, problem: str) -> None:
    _history(sharing)
    column_filter = statement.split("WHERE ")[1]
    with sqlite3.connect(sharing.store.path) as conn:
        (target,) = conn.execute(f"SELECT seq FROM audit WHERE {column_filter}").fetchone()
    _tamper(sharing.store.path, statement)
    report = sharing.verify_audit()
    assert not report.ok
    assert report.broken_seq == target
    assert f"entry #{target}" in (report.problem or "") and problem in (report.problem or "")


def test_a_deleted_entry_is_named_by_its_successor(sharing: Sharing) -> None:
    _history(sharing)
    _tamper(sharing.store.path, "DELETE FROM audit WHERE seq = 3")
    report = sharing.verify_audit()
    assert report.broken_seq == 4 and "removed" in (report.problem or "")


def test_recomputing_one_hash_still_breaks_the_next_link(sharing: Sharing) -> None:
    _history(sharing)
    path = sharing.store.path
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT * FROM audit WHERE seq = 2").fetchone()
    forged = (*row[:9], 999, *row[10:12])
    _tamper(path, "UPDATE audit SET frames = 999, hash = ? WHERE seq = 2", entry_hash(forged))
    assert sharing.verify_audit().broken_seq == 3


def test_cli_verify_exits_1_naming_the_first_broken_entry(home: Path) -> None:
    with Sharing.open(load_settings(home)) as sharing:
        _history(sharing)
        path = sharing.store.path
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit chain intact" in ok.output
    _tamper(path, "UPDATE audit SET actor = 'user' WHERE seq = 5")
    broken = runner.invoke(cli_app, ["audit", "verify"])
    assert broken.exit_code == 1, broken.output
    assert "broken at entry #5" in broken.stderr


def test_an_export_is_json_lines_that_verify_on_their_own(home: Path, tmp_path: Path) -> None:
    with Sharing.open(load_settings(home)) as sharing:
        ids = _history(sharing)
        count = len(sharing.audit_entries())
    copy = tmp_path / "audit.jsonl"
    runner = CliRunner()
    result = runner.invoke(cli_app, ["audit", "export", "--out", str(copy)])
    assert result.exit_code == 0, result.output
    text = copy.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == count
    assert all(set(line) == EXPORT_KEYS for line in lines)
    assert ids["token"] not in text
    assert verify_export(text.splitlines()).ok
    checked = runner.invoke(cli_app, ["audit", "verify", "--file", str(copy)])
    assert checked.exit_code == 0, checked.output

    lines[3]["frames"] = 7
    copy.write_text("".join(json.dumps(line) + "\n" for line in lines))
    forged = runner.invoke(cli_app, ["audit", "verify", "--file", str(copy)])
    assert forged.exit_code == 1
    assert "broken at entry #4" in forged.stderr
    shown = runner.invoke(cli_app, ["audit"])
    assert shown.exit_code == 0 and "banned" in shown.output


def test_stream_session_times_are_the_clock_times(sharing: Sharing) -> None:
    app, _ = add_app(sharing)
    issued = approved_token(sharing, app.id)
    started = sharing.stream_started(issued.grant, "ses_x")
    sharing.stream_ended(issued.grant, "ses_x", started, 3, "done")
    entry = sharing.audit_entries()[-1]
    assert entry.started_at is not None and entry.ended_at is not None
    span = datetime.fromisoformat(entry.ended_at) - datetime.fromisoformat(entry.started_at)
    assert timedelta(0) <= span < timedelta(seconds=5)
