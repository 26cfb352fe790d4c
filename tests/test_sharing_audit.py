"""The keyed, hash-chained audit log: what it records, and that tampering, truncation and
a wiped or replaced database are found and named."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app as cli_app
from facegate.config import load_settings
from facegate.sharing.audit import GENESIS_HASH, SignedHead, audit_key, entry_mac
from facegate.sharing.audit_head import HEAD_FILE
from facegate.sharing.errors import SharingStoreError
from facegate.sharing.keys import load_platform_key
from facegate.sharing.service import Sharing, Via
from facegate.sharing.store import STORE_FILE
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


def _unkeyed_hash(row: tuple[object, ...]) -> str:
    """FaceGate's chain function before the chain was keyed: anyone could recompute it."""
    payload = json.dumps(list(row), ensure_ascii=False, separators=(",", ":"), default=repr)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _rewrite_from(path: Path, seq: int, hash_row: object) -> None:
    """Edit entry ``seq`` and recompute every later hash and link with ``hash_row``."""
    _tamper(path, "UPDATE audit SET actor = 'platform' WHERE seq = ?", seq)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT * FROM audit WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
        prev = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq - 1,)).fetchone()[0]
        for row in rows:
            body = (*row[:11], prev)
            prev = hash_row(body)  # type: ignore[operator]
            conn.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (body[11], prev, row[0])
            )


def test_rewriting_an_entry_and_recomputing_every_later_hash_is_caught(sharing: Sharing) -> None:
    _history(sharing)
    assert len(sharing.audit_entries()) > 8
    _rewrite_from(sharing.store.path, 5, _unkeyed_hash)
    report = sharing.verify_audit()
    assert report.broken_seq == 5 and "altered" in (report.problem or "")


def test_a_guessed_key_does_not_forge_the_chain(sharing: Sharing, tmp_path: Path) -> None:
    _history(sharing)
    wrong = audit_key(load_platform_key(tmp_path / "elsewhere"))
    _rewrite_from(sharing.store.path, 5, lambda row: entry_mac(wrong, row))
    assert sharing.verify_audit().broken_seq == 5


@pytest.mark.parametrize(
    ("statement", "first_missing"),
    [
        ("DELETE FROM audit WHERE seq > (SELECT max(seq) - 10 FROM audit)", "newest"),
        ("DELETE FROM audit WHERE seq > 1", 2),
        ("DELETE FROM audit", 1),
    ],
)
def test_a_truncated_or_emptied_log_is_caught(
    sharing: Sharing, statement: str, first_missing: object
) -> None:
    _history(sharing)
    for _ in range(4):
        _history(sharing)
    total = len(sharing.audit_entries())
    _tamper(sharing.store.path, statement)
    report = sharing.verify_audit()
    assert not report.ok
    expected = total - 9 if first_missing == "newest" else first_missing
    assert report.broken_seq == expected, report
    assert "removed" in (report.problem or "")
    runner = CliRunner()
    assert runner.invoke(cli_app, ["audit", "verify"], env=_env(sharing)).exit_code == 1


def _env(sharing: Sharing) -> dict[str, str]:
    return {"FACEGATE_HOME": str(sharing.store.path.parent)}


@pytest.mark.parametrize("wipe", ["zero bytes", "deleted", "no tables"])
def test_a_wiped_database_is_refused_not_recreated(home: Path, wipe: str) -> None:
    with Sharing.open(load_settings(home)) as sharing:
        _history(sharing)
        path = sharing.store.path
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if wipe == "zero bytes":
        path.write_bytes(b"")
    elif wipe == "deleted":
        path.unlink()
    else:
        path.unlink()
        sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.close()
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(SharingStoreError, match="will not start a new one silently"):
        Sharing.open(load_settings(home))
    assert (path.read_bytes() if path.exists() else None) == before
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 2 and "restore the database" in result.output.lower()


def test_a_rolled_back_database_and_head_file_are_caught_by_a_kept_head(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    with Sharing.open(load_settings(home)) as sharing:
        _history(sharing)
        path = sharing.store.path
        backup = tmp_path / "backup"
        backup.mkdir()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for name in (STORE_FILE, HEAD_FILE):
            shutil.copy2(home / name, backup / name)
        _history(sharing)
    kept = tmp_path / "head.json"
    printed = runner.invoke(cli_app, ["audit", "head", "--json"])
    assert printed.exit_code == 0, printed.output
    kept.write_text(printed.output)
    exported = tmp_path / "audit.jsonl"
    assert runner.invoke(cli_app, ["audit", "export", "--out", str(exported)]).exit_code == 0
    # Someone restores the older database and head file together: consistent on its own.
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for name in (STORE_FILE, HEAD_FILE):
        shutil.copy2(backup / name, home / name)
    alone = runner.invoke(cli_app, ["audit", "verify"])
    assert alone.exit_code == 0, alone.output
    for option, copy in (("--head", kept), ("--file", exported)):
        caught = runner.invoke(cli_app, ["audit", "verify", option, str(copy)])
        assert caught.exit_code == 1, (option, caught.output)
        assert "were removed" in caught.stderr


def test_the_head_is_signed_by_the_published_platform_key(home: Path) -> None:
    with Sharing.open(load_settings(home)) as sharing:
        _history(sharing)
        count = len(sharing.audit_entries())
        last = sharing.audit_entries()[-1].hash
        public = load_platform_key(home).public_key()
    printed = CliRunner().invoke(cli_app, ["audit", "head", "--json"])
    head = SignedHead.from_text(printed.output)
    assert (head.count, head.hash) == (count, last)
    assert head.is_signed_by(public)
    forged = SignedHead(head.count + 1, head.hash, head.signature, head.key_id)
    assert not forged.is_signed_by(public)


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
    assert len(lines) == count + 1
    assert all(set(line) == EXPORT_KEYS for line in lines[:-1])
    assert lines[-1]["type"] == "audit_head" and lines[-1]["count"] == count
    assert ids["token"] not in text
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


@pytest.mark.parametrize(
    ("cut", "problem"),
    [
        (lambda lines: [], "no signed head"),
        (lambda lines: lines[:-1], "no signed head"),
        (lambda lines: lines[:-4], "no signed head"),
        (lambda lines: [*lines[:-4], lines[-1]], "covers"),
        (lambda lines: [*lines[:2], *lines[3:]], "removed"),
        (lambda lines: [*lines, lines[0]], "follows the signed head"),
    ],
    ids=["empty", "head cut", "tail cut", "tail cut, head kept", "middle cut", "appended"],
)
def test_an_empty_or_cut_export_fails(
    home: Path, tmp_path: Path, cut: object, problem: str
) -> None:
    with Sharing.open(load_settings(home)) as sharing:
        _history(sharing)
    copy = tmp_path / "audit.jsonl"
    runner = CliRunner()
    assert runner.invoke(cli_app, ["audit", "export", "--out", str(copy)]).exit_code == 0
    lines = copy.read_text().splitlines(keepends=True)
    copy.write_text("".join(cut(lines)))  # type: ignore[operator]
    result = runner.invoke(cli_app, ["audit", "verify", "--file", str(copy)])
    assert result.exit_code == 1, result.output
    assert problem in result.stderr


def test_a_new_log_is_intact_from_its_first_moment(sharing: Sharing) -> None:
    report = sharing.verify_audit()
    assert report.ok and report.entries == 0, report
    head = SignedHead.from_text((sharing.store.path.parent / HEAD_FILE).read_text())
    assert (head.count, head.hash) == (0, GENESIS_HASH)
