"""`sudo facegate enroll alice ...` enrols alice for login, in the system vault.

The rule (``facegate.system.paths.wants_system_vault``): ``--system`` / ``--personal``
decide when given; otherwise root writes to the system vault unless ``FACEGATE_HOME``
names a personal one. The system vault lives under a temporary ``--root`` here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app
from facegate.session import Session
from facegate.system.authenticate import open_system_session
from facegate.system.paths import SystemPaths, wants_system_vault


@pytest.mark.parametrize(
    ("asked", "euid", "environ", "system"),
    [
        (None, 0, {}, True),
        (None, 0, {"FACEGATE_HOME": "/root/fg"}, False),
        (None, 1000, {}, False),
        (True, 1000, {"FACEGATE_HOME": "/home/a/fg"}, True),
        (False, 0, {}, False),
    ],
)
def test_root_enrols_into_the_system_vault_unless_told_otherwise(
    asked: bool | None, euid: int, environ: dict[str, str], system: bool
) -> None:
    assert wants_system_vault(asked, euid, environ) is system


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("enrolling into the system vault needs root; CI runs as root")
    for key in list(os.environ):
        if key.startswith("FACEGATE_"):
            monkeypatch.delenv(key)


def enrolled_in_system(root: Path) -> list[str]:
    with open_system_session(SystemPaths(root=root)) as session:
        return [record.name for record in session.vault.users()]


def test_sudo_facegate_enroll_writes_the_system_vault(
    as_root: None, tmp_path: Path, image_files: dict
) -> None:
    files = [str(p) for p in image_files["enrol"]]
    result = CliRunner().invoke(app, ["enroll", "alice", *files, "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "system vault" in result.output
    assert enrolled_in_system(tmp_path) == ["alice"]
    paths = SystemPaths(root=tmp_path)
    assert paths.key_in_use.stat().st_mode & 0o777 == 0o600
    assert paths.state_dir.stat().st_mode & 0o777 == 0o700
    added = CliRunner().invoke(app, ["add", "alice", files[0], "--root", str(tmp_path)])
    assert added.exit_code == 0, added.output
    assert "system vault" in added.output


def personal_users(home: Path) -> list[str]:
    with Session.open(home) as session:
        return [record.name for record in session.vault.users()]


def test_root_with_a_personal_home_or_personal_flag_keeps_the_personal_vault(
    as_root: None, tmp_path: Path, image_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [str(p) for p in image_files["enrol"]]
    monkeypatch.setenv("FACEGATE_KEY_SOURCE", "keyfile")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    root = ["--root", str(tmp_path)]
    personal = CliRunner().invoke(app, ["enroll", "bob", *files, "--personal", *root])
    assert personal.exit_code == 0, personal.output
    home = tmp_path / "home"
    monkeypatch.setenv("FACEGATE_HOME", str(home))
    by_home = CliRunner().invoke(app, ["enroll", "carol", *files, *root])
    assert by_home.exit_code == 0, by_home.output
    assert "system vault" not in personal.output + by_home.output
    assert enrolled_in_system(tmp_path) == []
    assert personal_users(tmp_path / "xdg" / "facegate") == ["bob"]
    assert personal_users(home) == ["carol"]


def test_without_root_system_is_refused_before_anything_is_written(
    tmp_path: Path, image_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The files' modes are what stops another user (test_system_pam tries them as one);
    # this is the command's own clear refusal, seen as an unprivileged euid.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    argv = ["enroll", "mallory", str(image_files["probe"]), "--system", "--root", str(tmp_path)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "needs root" in result.output
    assert not SystemPaths(root=tmp_path).state_dir.exists()
