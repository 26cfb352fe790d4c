"""The login vault's key is sealed by the real ``systemd-creds`` where it is installed.

The host secret is the test session's own (conftest sets ``SYSTEMD_CREDENTIAL_SECRET``);
"another machine" is another host secret. A machine without ``systemd-creds`` is a
``PATH`` without it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facegate.cli import app
from facegate.errors import VaultKeyError
from facegate.private_files import create_private_file
from facegate.system.authenticate import open_system_session, system_key
from facegate.system.key_protection import seal
from facegate.system.paths import SystemPaths

pytestmark = [
    pytest.mark.skipif(shutil.which("systemd-creds") is None, reason="no systemd-creds here"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the login vault is root's"),
]


def enrol(root: Path, files: list[Path]) -> None:
    result = CliRunner().invoke(
        app, ["system", "enroll", "alice", *map(str, files), "--root", str(root)]
    )
    assert result.exit_code == 0, result.output


def login_users(root: Path) -> list[str]:
    result = CliRunner().invoke(app, ["system", "users", "--json", "--root", str(root)])
    assert result.exit_code == 0, result.output
    return [row["user"] for row in json.loads(result.stdout)]


def test_a_new_login_key_is_sealed_and_never_written_plain(
    tmp_path: Path, image_files: dict
) -> None:
    paths = SystemPaths(root=tmp_path)
    enrol(tmp_path, image_files["enrol"])
    assert paths.sealed_key_file.exists() and not paths.key_file.exists()
    assert paths.sealed_key_file.stat().st_mode & 0o777 == 0o600
    assert system_key(paths) not in paths.sealed_key_file.read_bytes()
    assert login_users(tmp_path) == ["alice"]  # reopened with the sealed key


def test_the_sealed_key_does_not_open_on_another_machine(
    tmp_path: Path, image_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(tmp_path, image_files["enrol"])
    monkeypatch.setenv("SYSTEMD_CREDENTIAL_SECRET", str(tmp_path / "other-host.secret"))
    with pytest.raises(VaultKeyError, match="systemd-creds decrypt failed"):
        open_system_session(SystemPaths(root=tmp_path))


def test_a_sealed_key_others_could_read_or_that_others_own_is_refused(
    tmp_path: Path, image_files: dict
) -> None:
    paths = SystemPaths(root=tmp_path)
    enrol(tmp_path, image_files["enrol"])
    paths.sealed_key_file.chmod(0o644)
    with pytest.raises(VaultKeyError, match="readable by it alone"):
        system_key(paths)
    paths.sealed_key_file.chmod(0o600)
    os.chown(paths.sealed_key_file, 65534, 65534)
    with pytest.raises(VaultKeyError, match="must belong to uid 0"):
        system_key(paths)


def test_seal_key_seals_a_plain_key_made_without_systemd_creds(
    tmp_path: Path, image_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = SystemPaths(root=tmp_path)
    bare = tmp_path / "bin"
    bare.mkdir()
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(bare))
    enrol(tmp_path, image_files["enrol"])
    assert paths.key_file.exists() and not paths.sealed_key_file.exists()
    plain = paths.key_file.read_bytes()

    refused = CliRunner().invoke(app, ["system", "seal-key", "--root", str(tmp_path)])
    assert refused.exit_code == 2 and "not installed" in refused.output
    assert paths.key_file.read_bytes() == plain  # nothing lost

    monkeypatch.setenv("PATH", real_path)
    sealed = CliRunner().invoke(app, ["system", "seal-key", "--root", str(tmp_path)])
    assert sealed.exit_code == 0, sealed.output
    assert paths.sealed_key_file.exists() and not paths.key_file.exists()
    assert system_key(paths) == plain
    assert login_users(tmp_path) == ["alice"]
    again = CliRunner().invoke(app, ["system", "seal-key", "--root", str(tmp_path)])
    assert again.exit_code == 0 and "already sealed" in again.output


def test_a_vault_whose_key_is_gone_says_so(tmp_path: Path, image_files: dict) -> None:
    paths = SystemPaths(root=tmp_path)
    enrol(tmp_path, image_files["enrol"])
    paths.sealed_key_file.unlink()
    with pytest.raises(VaultKeyError, match="is missing; restore it"):
        system_key(paths)
    assert not paths.key_file.exists()  # no fresh key minted for a vault it cannot open


def test_seal_key_finishes_a_run_interrupted_before_the_plain_key_was_removed(
    tmp_path: Path, image_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = SystemPaths(root=tmp_path)
    real_path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemd-creds: a plain key
    enrol(tmp_path, image_files["enrol"])
    monkeypatch.setenv("PATH", real_path)
    plain = paths.key_file.read_bytes()
    create_private_file(paths.sealed_key_file, seal(plain))  # sealed, then interrupted
    done = CliRunner().invoke(app, ["system", "seal-key", "--root", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert not paths.key_file.exists() and system_key(paths) == plain
    assert login_users(tmp_path) == ["alice"]
