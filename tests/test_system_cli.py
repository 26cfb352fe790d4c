"""`facegate system users | reset | delete` on a system vault under a temporary root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app
from facegate.system.authenticate import open_system_session
from facegate.system.paths import SystemPaths


def system(*args: str) -> str:
    result = CliRunner().invoke(app, ["system", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_root_lists_resets_and_deletes_login_users(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the system vault commands are root-only; CI runs as root")
    paths = SystemPaths(root=tmp_path)
    with open_system_session(paths) as session:
        session.vault.create_user("alice", b"an opaque sealed payload")
        for _ in range(5):
            session.vault.record_failure("alice")
    root = ["--root", str(tmp_path)]
    assert "yes" in system("users", *root)
    assert "lockout cleared for alice" in system("reset", "alice", *root)
    with open_system_session(paths) as session:
        record = session.vault.user("alice")
        assert (record.failures, record.locked) == (0, False)
    system("delete", "alice", "--yes", *root)
    assert "no login users enrolled" in system("users", *root)
    assert "bob is not enrolled" in system("reset", "bob", *root)
    assert paths.key_in_use.stat().st_mode & 0o777 == 0o600
    assert paths.state_dir.stat().st_mode & 0o777 == 0o700
